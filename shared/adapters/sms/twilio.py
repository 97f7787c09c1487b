"""Sending through the `twilio` SDK (imported on the first send, not at import: cold starts stay short).

The error classification turns the provider's answers into permanent (recorded, never retried) and
transient (the queue retries) errors; no exception message made here holds a number or a body.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import math
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from shared.adapters.sms.base import (
    CLOCK_SKEW,
    CopyNotFinal,
    PermanentSmsError,
    SentMessage,
    SmsError,
    TransientSmsError,
)

# --- error classification ------------------------------------------------------------------------

# Codes that belong to the recipient or the message itself: retrying cannot help.
_PERMANENT_CODES: Final[Mapping[int, str]] = {
    21211: "invalid 'To' number",
    21610: "recipient has unsubscribed (STOP)",
    21614: "'To' number is not a mobile number",
}

# 4xx codes caused by our own account or sender setup (or its momentary capacity), not by the
# message: they hold for every message alike, so failing messages for ever would lose them all.
_SENDER_SIDE_CODES: Final[Mapping[int, str]] = {
    21212: "invalid 'From' number",
    21408: "sending to this region is not enabled on the account",
    21603: "'From' number is required",
    21606: "'From' number cannot send this message",
    21611: "'From' number has too many queued messages",
}


def _error_for(status: int | None, code: int | None, retry_after: float | None) -> SmsError:
    """Map an HTTP status and provider code to a permanent or a transient error."""
    where = f"HTTP {status}" if status is not None else "no HTTP status"
    if code is not None:
        where += f", code {code}"
    permanent = _PERMANENT_CODES.get(code) if code is not None else None
    if permanent is not None:
        return PermanentSmsError(f"SMS provider refused the message ({where}: {permanent})", code=code, status=status)
    sender_side = _SENDER_SIDE_CODES.get(code) if code is not None else None
    if sender_side is not None:
        return TransientSmsError(
            f"SMS provider refused our sender setup ({where}: {sender_side})",
            code=code,
            status=status,
            retry_after=retry_after,
        )
    if status is None or status == 429 or status >= 500 or status < 400:
        return TransientSmsError(
            f"SMS provider unavailable ({where})", code=code, status=status, retry_after=retry_after
        )
    if status in (401, 403, 404, 408):
        # 401/403 mean wrong credentials or a suspended account, and 404 on the Messages resource a
        # wrong account SID or base URL: a misconfiguration, which must not mark every message failed
        # for ever. Retrying keeps the messages until the setting is fixed (then the poison queue
        # holds them). 408 is the provider timing out our request.
        return TransientSmsError(
            f"SMS provider refused our request ({where}: check the Twilio settings)",
            code=code,
            status=status,
            retry_after=retry_after,
        )
    return PermanentSmsError(f"SMS provider refused the message ({where})", code=code, status=status)


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# --- Twilio --------------------------------------------------------------------------------------

# Twilio error 20009: "Cannot delete this resource before it is complete" (https://www.twilio.com/docs/api/errors/20009).
_NOT_COMPLETE: Final = 20009
# A message sid: "SM" (SMS) or "MM" (MMS) and 32 hex digits. Checked before it goes into a URL path.
_MESSAGE_SID: Final = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")

_POOL_SIZE: Final = 32
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@functools.cache
def _header_keeping_http_client_class() -> type:
    """The SDK's HTTP client, remembering per thread the headers of the last response.

    TwilioRestException carries status and code but not the response headers, so Retry-After would
    be lost. Each send runs request and exception in one thread, so a thread-local slot is exact even
    when many threads share one client. Defined on first use: it needs twilio and requests imported.
    """
    from requests.adapters import HTTPAdapter
    from twilio.http.http_client import TwilioHttpClient

    from shared.adapters.http_env import configure_session

    class HeaderKeepingHttpClient(TwilioHttpClient):
        def __init__(self, timeout: float) -> None:
            super().__init__(pool_connections=True, timeout=timeout)
            self._last = threading.local()
            # The SDK sizes the connection pool for https only; a gateway or loopback URL may be http.
            self.session.mount("http://", HTTPAdapter(pool_maxsize=_POOL_SIZE))
            # No search of every environment variable on each send unless a proxy needs it (adapters/http_env.py).
            configure_session(self.session)

        def request(
            self,
            method: str,
            url: str,
            params: dict[str, object] | None = None,
            data: dict[str, object] | None = None,
            headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,
            allow_redirects: bool = False,
        ) -> Any:
            self._last.headers = None
            response = super().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout,
                allow_redirects=allow_redirects,
            )
            self._last.headers = response.headers
            return response

        def last_header(self, name: str) -> str | None:
            headers = getattr(self._last, "headers", None)
            if not headers:
                return None
            value = headers.get(name)  # requests' headers are case-insensitive
            if value is None:
                value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
            return value

    return HeaderKeepingHttpClient


class _Sdk(NamedTuple):
    """What a TwilioSender needs from the SDK, built once on the first send."""

    messages: Any  # twilio.rest.api.v2010.account.message.MessageList
    http_client: Any  # HeaderKeepingHttpClient
    twilio_error: type[Exception]
    request_error: type[Exception]
    timeout_error: type[Exception]


def _check_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("api_base_url must be an http(s) URL such as https://api.example.com")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        # Basic auth carries the auth token: plain http is for the loopback test server only.
        raise ValueError("api_base_url must use https unless it points at loopback (127.0.0.1)")
    if parts.query or parts.fragment:
        raise ValueError("api_base_url must not have a query or fragment")
    return url.strip().rstrip("/")


class TwilioSender:
    """Sends through the Twilio REST API (or a Twilio-compatible gateway) with the real SDK.

    Safe to share between threads: the client is built once under a lock, and every send is one
    request whose outcome (including Retry-After) is read in the sending thread.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if not (from_ or messaging_service_sid):
            raise ValueError("from_ or messaging_service_sid is required")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from = from_
        self._messaging_service_sid = messaging_service_sid
        self._api_base_url = _check_base_url(api_base_url) if api_base_url else None
        self._timeout = float(timeout)
        self._sdk: _Sdk | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        base = self._api_base_url or "https://api.twilio.com"
        return f"TwilioSender(account_sid={self._account_sid!r}, api_base_url={base!r}, timeout={self._timeout})"

    def _load(self) -> _Sdk:
        sdk = self._sdk
        if sdk is not None:
            return sdk
        with self._lock:
            if self._sdk is None:
                self._sdk = self._build()
            return self._sdk

    def _build(self) -> _Sdk:
        import requests
        from twilio.base.exceptions import TwilioException
        from twilio.rest import Client

        # The SDK logs each request's parameters at INFO: a lookup's carry the recipient's number.
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
        http_client = _header_keeping_http_client_class()(timeout=self._timeout)
        # Every setting is passed explicitly. A non-empty `environment` keeps the SDK from reading
        # os.environ, where TWILIO_EDGE or TWILIO_REGION would rewrite the host of every request
        # (and turn a gateway or loopback base URL into a host name that does not exist).
        client = Client(
            self._account_sid,
            self._auth_token,
            http_client=http_client,
            environment={"TWILIO_ACCOUNT_SID": self._account_sid},
        )
        api = client.api  # the Domain for api.twilio.com; its base_url prefixes every request
        if self._api_base_url:
            api.base_url = self._api_base_url
        # Resolved here, under the lock: the SDK builds these objects lazily and not thread-safely.
        messages = api.v2010.account.messages
        return _Sdk(
            messages=messages,
            http_client=http_client,
            twilio_error=TwilioException,
            request_error=requests.RequestException,
            timeout_error=requests.Timeout,
        )

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SentMessage:
        sdk = self._load()
        params: dict[str, Any] = {"to": to, "body": body}
        if self._messaging_service_sid:
            params["messaging_service_sid"] = self._messaging_service_sid
        else:
            params["from_"] = self._from
        if status_callback:
            params["status_callback"] = status_callback
        # `from None` everywhere below: the SDK's exception text quotes the provider's message, which
        # may contain the number, and a chained cause would print it in every logged traceback.
        try:
            message = sdk.messages.create(**params)
        except sdk.twilio_error as exc:
            status = getattr(exc, "status", None)
            code = getattr(exc, "code", None)
            raise _error_for(
                status if isinstance(status, int) else None,
                code if isinstance(code, int) else None,
                _parse_retry_after(sdk.http_client.last_header("Retry-After")),
            ) from None
        except sdk.timeout_error as exc:
            # After a read timeout the provider may have accepted the message: a retry can send it
            # twice. That is the lesser harm for an invitation or a code; losing it is worse.
            raise TransientSmsError(
                f"SMS provider did not answer within {self._timeout:g} s ({type(exc).__name__})"
            ) from None
        except sdk.request_error as exc:
            raise TransientSmsError(f"SMS provider unreachable ({type(exc).__name__})") from None
        except json.JSONDecodeError:
            raise TransientSmsError("SMS provider answered with unreadable JSON") from None
        sid = getattr(message, "sid", None)
        if not sid:
            raise TransientSmsError("SMS provider answered without a message sid")
        status = getattr(message, "status", None)
        return SentMessage(sid=str(sid), status=str(status) if status else "unknown")

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None:
        sdk = self._load()
        try:
            # Twilio filters by sent date (whole days); the creation time and body narrow it down.
            candidates = sdk.messages.list(to=to, date_sent_after=since - timedelta(days=1), limit=50)
        except (sdk.twilio_error, sdk.request_error, json.JSONDecodeError) as exc:
            raise TransientSmsError(f"SMS provider lookup failed ({type(exc).__name__})") from None
        for message in candidates:
            created = getattr(message, "date_created", None)
            if getattr(message, "body", None) == body and (created is None or created >= since - CLOCK_SKEW):
                return SentMessage(sid=str(message.sid), status=str(getattr(message, "status", "unknown")))
        return None

    def delete(self, sid: str) -> bool:
        """DELETE the Message resource (https://www.twilio.com/docs/messaging/api/message-resource#delete-a-message-resource):
        Twilio answers 204 and the message leaves its logs and API; its backups keep the body up to 30 days."""
        if not _MESSAGE_SID.match(sid):
            return False  # not a Twilio message (the local outbox's, say): nothing Twilio could hold
        sdk = self._load()
        try:
            sdk.messages(sid).delete()
        except sdk.twilio_error as exc:
            status = getattr(exc, "status", None)
            code = getattr(exc, "code", None)
            if code == _NOT_COMPLETE:
                raise CopyNotFinal(
                    f"SMS provider keeps the message until it is final (code {code})", code=code
                ) from None
            if status == 404 and code == 20404:
                # Deleted before (by us, or in the console). A 404 without Twilio's code is a wrong base
                # URL, not an answer about the message: that one is retried.
                return False
            raise TransientSmsError(
                f"SMS provider did not delete the message (HTTP {status}, code {code})",
                code=code if isinstance(code, int) else None,
                status=status if isinstance(status, int) else None,
                retry_after=_parse_retry_after(sdk.http_client.last_header("Retry-After")),
            ) from None
        except (sdk.request_error, json.JSONDecodeError) as exc:
            raise TransientSmsError(f"SMS provider unreachable ({type(exc).__name__})") from None
        return True
