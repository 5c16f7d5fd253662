from django import template

from billing.pricing import credits_format

register = template.Library()


@register.filter
def credits(micro: int | None) -> str:
    """Micro-credits as credits, for people: {{ entry.amount|credits }}."""
    return credits_format(micro or 0)
