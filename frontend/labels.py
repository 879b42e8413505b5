"""The words of the public pages that come from data keys, in both languages."""

from django.utils.translation import gettext_lazy as _

# Keyed by layers.selectors.layer_counts(); a key missing here is shown as it is.
LAYER_LABELS = {
    "governorates": _("Governorates"),
    "areas": _("Areas"),
    "blocks": _("Blocks"),
    "parcels": _("Parcels"),
    "zoning zones": _("Zoning zones"),
    "streets": _("Streets"),
    "landmarks": _("Landmarks"),
    "aerial images": _("Aerial images"),
    "building permits": _("Building permits"),
    "building-file documents": _("Building-file documents"),
}

# Keyed by layers.models.LandmarkCategory values.
LANDMARK_CATEGORY_LABELS = {
    "mall": _("Shopping mall"),
    "tourist_site": _("Tourist site"),
    "mosque": _("Mosque"),
    "school": _("School"),
    "hospital": _("Hospital"),
    "park": _("Park"),
    "government_office": _("Government office"),
    "museum": _("Museum"),
    "hotel": _("Hotel"),
    "market": _("Market"),
}
