"""Template tags of Zapa's admin pages (the dashboard on the admin index)."""

from django import template

from zapa_site.dashboard import dashboard_build

register = template.Library()


@register.inclusion_tag("admin/zapa/dashboard.html", takes_context=True)
def zapa_dashboard(context):
    """The dashboard for the staff member viewing the page."""
    request = context["request"]
    return {"dashboard": dashboard_build(user=request.user), "request": request}


@register.filter
def thousands(value):
    """1234567 → "1,234,567" (without django.contrib.humanize); other values unchanged."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return f"{value:,}"
