"""Helpers shared by the pages and the JSON API: services, language, errors, client address."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shared.composition import Services
from shared.core import i18n
from shared.core.expected_wait import ExpectedWait
from shared.web import form_page


def services_of(request: Request) -> Services:
    return request.app.state.services()


def locale_for(request: Request, explicit: str | None = None) -> str:
    return form_page.choose_locale(
        services_of(request), explicit or request.query_params.get("lang"), request.headers.get("accept-language")
    )


def expected_wait(request: Request, theme: str, area: str | None) -> ExpectedWait | None:
    """The usual wait in `theme` (and `area`), or None where the history is too thin to say it (issue 23.2)."""
    return form_page.expected_wait(services_of(request), theme, area)


def public_needed(request: Request, needed: int) -> int | None:
    """`needed` as the form, the thank-you page and the API may say it (shared/web/form_page.py)."""
    return form_page.public_needed(services_of(request), needed)


def message(locale: str, code: str, params: Mapping[str, object] | None = None) -> str:
    key = f"err_{code}"
    if key not in i18n.catalog(locale):
        key = "err_bad_request"
    return i18n.translate(locale, key, **(params or {}))


def error_json(
    status_code: int,
    code: str,
    locale: str,
    *,
    errors: Mapping[str, Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    if code == "storage_unavailable":
        text = i18n.translate(locale, "unavailable_text")
    elif code == "validation_failed":
        text = i18n.translate(locale, "errors_heading")
    else:
        text = message(locale, code)
    body: dict[str, Any] = {"error": code, "message": text}
    if errors:
        body["errors"] = dict(errors)
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def page(request: Request, name: str, locale: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(form_page.page_html(services_of(request), name, locale, **context), status_code=status_code)


def render_message(request: Request, title_key: str, text_key: str, *, status_code: int = 200) -> HTMLResponse:
    locale = locale_for(request)
    return page(
        request,
        "message.html",
        locale,
        status_code=status_code,
        title=i18n.translate(locale, title_key),
        text=i18n.translate(locale, text_key),
    )


FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request, *, max_fields: int = 30) -> dict[str, str]:
    """An urlencoded form body, read strictly: 415 for any other type, 400 unless every byte decodes as UTF-8.

    Starlette's own form parser falls back to Latin-1 and replaces bad %-escapes, which would store
    mojibake names and numbers; our forms (and Twilio's webhooks) only ever send this one type."""
    from urllib.parse import parse_qsl

    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise HTTPException(415)
    body = await request.body()
    try:
        pairs = parse_qsl(
            body.decode("ascii"),  # urlencoded text is ASCII; anything else arrived raw
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=max_fields,
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400) from None
    return dict(pairs)


def client_address(request: Request) -> str | None:
    """The resident's address, for the per-client cap; None (the shared bucket) when it cannot be told.

    Each proxy appends the address it received the request from to X-Forwarded-For, so only the
    last entry is vouched for by our own front end; entries before it are whatever the client sent
    (https://learn.microsoft.com/aspnet/core/host-and-deploy/proxy-load-balancer#forwarded-headers).
    App Service's front ends (Flex Consumption runs on them) append the client's socket address as
    "ip:port" and set `client-ip` to the same value, overwriting any the client sent
    (https://github.com/Azure/app-service-linux-docs/blob/master/Things_You_Should_Know/headers.md).
    Locally there is no proxy to trust.

    Behind Azure Front Door (FRONT_DOOR_ID set) that last entry is a Front Door edge, shared by every
    resident. Front Door sends its profile's id in X-Azure-FDID and the address of the TCP connection
    it took the request on in X-Azure-SocketIP; its X-Azure-ClientIP is not used, because "the client IP
    can be arbitrarily overwritten by a user"
    (https://learn.microsoft.com/azure/frontdoor/front-door-http-headers-protocol#from-the-front-door-to-the-backend).
    Only a request carrying our profile's id is taken from Front Door; any other (a direct call, a
    forged header) is counted by the address App Service's front end saw, as without Front Door.
    """
    settings = services_of(request).settings
    if settings.front_door_id and not settings.dev_mode:
        given = request.headers.get("x-azure-fdid", "").strip().lower()
        socket_ip = request.headers.get("x-azure-socketip", "").strip()
        if socket_ip and hmac.compare_digest(given.encode(), settings.front_door_id.encode()):
            return _subscriber(socket_ip)
    if not settings.dev_mode:
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            if last.startswith("["):  # IPv6 with port, as Azure sends it: [2001:db8::1]:443
                last = last[1:].partition("]")[0]
            elif last.count(":") == 1:  # IPv4 with port, as Azure sends it
                last = last.split(":")[0]
            return _subscriber(last)
    return _subscriber(request.client.host) if request.client else None


def _subscriber(address: str) -> str:
    """One key per subscriber: an IPv6 client owns its whole /64 and could otherwise rotate addresses."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def request_formation_everywhere(services: Services) -> None:
    """New facilitator capacity may let groups awaiting one start: ask for formation in every theme.

    The one place both the operators' pages and the JSON API ask for it."""
    for theme in services.organisation.themes:
        services.intake.request_formation(theme.id)
