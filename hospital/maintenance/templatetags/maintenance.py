"""Template filters of the maintenance pages."""

from django import template

register = template.Library()


@register.filter
def pct(value, digits: int = 1) -> str:
    """A probability (0-1) as a percentage: ``0.0234|pct`` -> "2.3 %"; tiny values as "< 0.1 %"; None as "—"."""
    if value is None or value != value:
        return "—"
    v = 100.0 * float(value)
    if 0 < v < 10 ** -int(digits):
        return f"< {10 ** -int(digits):g} %"
    return f"{v:.{int(digits)}f} %"
