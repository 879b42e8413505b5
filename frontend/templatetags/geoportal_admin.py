"""Template tags of the admin pages."""

from django import template

from layers.selectors import layer_counts as count_layers

register = template.Library()


@register.simple_tag
def layer_counts() -> dict[str, int]:
    """Count the features of every layer (layers.selectors.layer_counts)."""
    return count_layers()
