"""Template filters of the parcel file's pages."""

from django import template
from django.utils import translation
from django.utils.html import format_html, format_html_join

from frontend.labels import PERMITTED_USE_LABELS
from layers.models import (
    DocumentType,
    LandmarkCategory,
    LandUse,
    LineageKind,
    ParcelStatus,
    PermitStatus,
    PermitType,
    StreetClass,
    VersionChange,
    ZoningCategory,
)

register = template.Library()

# The choices a parcel file shows, by what they are (a value such as "retired" means one thing for a parcel's status
# and another for a version's change).
CHOICES = {
    "status": ParcelStatus,
    "land_use": LandUse,
    "change": VersionChange,
    "lineage": LineageKind,
    "zoning": ZoningCategory,
    "street_class": StreetClass,
    "landmark": LandmarkCategory,
    "permit_type": PermitType,
    "permit_status": PermitStatus,
    "document_type": DocumentType,
}


@register.filter
def choice_label(value) -> str:
    """Show a stored choice ('private_housing') as words ('Private housing')."""
    if value in (None, ""):
        return "—"
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


@register.filter
def percent(value) -> str:
    """Show a share (0–1) as a percentage with one decimal."""
    return f"{float(value) * 100:.1f} %"


@register.filter
def choice_words(value, kind: str) -> str:
    """Show a stored choice of ``kind`` (a key of CHOICES) in English, with its Arabic beside it in an isolated span
    ("Private housing سكن خاص"), as the file's labels are; a value the choices do not hold, as choice_label does."""
    choices = CHOICES[kind]
    if value not in choices.values:
        return choice_label(value)
    return _in_both_languages(choices(value).label)


@register.filter
def use_words(uses) -> str:
    """Show a zone's permitted uses ("residential", "home_office") as words in English, each with its Arabic beside it
    ("Residential سكني, Home office مكتب منزلي"); a use the labels do not hold, as choice_label does."""
    words = [
        (_in_both_languages(PERMITTED_USE_LABELS[use]) if use in PERMITTED_USE_LABELS else choice_label(use),)
        for use in uses or ()
    ]
    return format_html_join(", ", "{}", words) if words else "—"


def _in_both_languages(label) -> str:
    with translation.override("en"):
        english = str(label)
    with translation.override("ar"):
        arabic = str(label)
    if arabic == english:
        return english
    return format_html('{} <span lang="ar" dir="rtl">{}</span>', english, arabic)
