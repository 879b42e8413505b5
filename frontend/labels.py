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

# Keyed by the uses the planning department's deliveries list for a zone (ZoningZone.permitted_uses, free text in
# their own words: docs/deliveries.md); a use missing here is shown as words ("cold_storage": "Cold storage").
PERMITTED_USE_LABELS = {
    "residential": _("Residential"),
    "home_office": _("Home office"),
    "serviced_apartments": _("Serviced apartments"),
    "ground_floor_retail": _("Ground-floor shops"),
    "retail": _("Shops"),
    "offices": _("Offices"),
    "hotel": _("Hotel"),
    "restaurants": _("Restaurants"),
    "banks": _("Banks"),
    "light_industry": _("Light industry"),
    "workshops": _("Workshops"),
    "warehousing": _("Warehousing"),
    "showrooms": _("Showrooms"),
    "public_administration": _("Public administration"),
    "education": _("Education"),
    "health": _("Health care"),
    "mosque": _("Mosque"),
    "utility": _("Utility"),
    "park": _("Park"),
    "playground": _("Playground"),
    "sports": _("Sports"),
}
