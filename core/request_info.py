"""Who is calling: client IP (honouring NUM_PROXIES) and user agent, for audit and limits."""

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's IP as DRF's throttles see it.

    With NUM_PROXIES = n > 0, the n-th address from the right of X-Forwarded-For
    is used (the one our own proxy saw), so a client cannot mint identities by
    sending its own header; with 0 the header is ignored.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    num_proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(num_proxies, len(hops))]
    return remote


def user_agent(request) -> str:
    if request is None:
        return ""
    return request.META.get("HTTP_USER_AGENT", "")[:500]
