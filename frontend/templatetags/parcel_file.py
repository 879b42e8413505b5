"""Template filters of the parcel file's pages."""

from django import template

register = template.Library()


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
