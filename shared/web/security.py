"""The headers every answer of ours carries, FastAPI-free: the app's middleware (shared/web/app.py) and the
cold-start front (shared/web/front.py) both set them from here, so the two cannot drift."""

from __future__ import annotations

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Withdraw links carry a token: never leak them to another site.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Browsers honour HSTS only when it arrives over HTTPS (RFC 6797 §8.1), and on plain http it would be
# a lie: sent on HTTPS responses only. Two years, as hstspreload.org asks; no includeSubDomains,
# because a municipality's other hosts under a custom domain are not ours to decide for.
HSTS = "max-age=63072000"


def is_https(scheme: str, forwarded_proto: str | None, *, trust_proxy: bool) -> bool:
    """The request reached us over HTTPS: its own scheme, or (outside DEV_MODE) the front end's word.

    In Azure the Functions host hands the worker the original https:// URL; X-Forwarded-Proto is the
    front end's fallback signal. Locally (DEV_MODE) no proxy header is trusted, as for client addresses."""
    if scheme == "https":
        return True
    forwarded = (forwarded_proto or "") if trust_proxy else ""
    return forwarded.split(",")[0].strip().lower() == "https"


def headers_for(https: bool) -> dict[str, str]:
    """The headers to add to an answer (each only where the answer has not set it already)."""
    return {**SECURITY_HEADERS, "Strict-Transport-Security": HSTS} if https else dict(SECURITY_HEADERS)
