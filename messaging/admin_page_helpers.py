"""What each of messaging's own admin pages needs: the admin's page context,
permission checks, query parameters and links to other admin pages."""

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from core.pagination import Cursor, InvalidCursor, KeysetPagination


def admin_context(request, model_admin, *, title: str, **extra) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        "title": title,
        **extra,
    }


def require_permission(request, model, action: str) -> None:
    opts = model._meta
    if not request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}"):
        raise PermissionDenied


def require_view_permission(request, model) -> None:
    opts = model._meta
    if not (
        request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
        or request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")
    ):
        raise PermissionDenied


def int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise Http404(f"“{name}” must be a number.")
    return int(value)


def cursor_param(request, pagination: KeysetPagination) -> Cursor | None:
    """The page's cursor; None (the first page) when there is none or it is not valid:
    a page of the admin opens anyway."""
    raw = request.GET.get(pagination.cursor_query_param, "")
    if not raw:
        return None
    try:
        return pagination.decode_cursor(raw)
    except InvalidCursor:
        return None


def admin_url(name: str, *args, query: dict[str, Any] | None = None) -> str:
    url = reverse(f"admin:{name}", args=args)
    query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url
