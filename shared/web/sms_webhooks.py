"""Twilio's webhooks: delivery status of our texts, and texts residents send back (STOP, HELP, …).

Both are form posts signed by Twilio (X-Twilio-Signature, HMAC-SHA1 of the URL Twilio called and
the sorted form parameters, keyed with the account's auth token). The signature is checked with
the SDK's RequestValidator against the public URL — PUBLIC_BASE_URL, the path and the query
string as sent — because behind Azure's front end the request's own URL is not the one Twilio
signed. No auth token configured, a missing or a wrong signature: 403, and nothing changes.

STOP and its Nordic words are queued (`shared.services.stop_requests`) before the 200 and carried out by
a queue-triggered function: erasure everywhere, a facilitator stopped, the confirmation sent. HELP and any
other text are handled at once (`shared.services.replies`): a facilitator's text is forwarded to the
coordinator, a member's is answered by an outbox text naming their facilitator, anyone else's by "this
number is not read". Every answer goes through the sender, not as TwiML: the sender notes the provider's
copy (so it is deleted with the person's data) and the installation's budget counts it; answers go only to
numbers in the organisation's countries, and "not read" and HELP at most once per number and day. The
webhook itself always answers an empty <Response/>, which Twilio's docs give as the way to receive a
message without replying (https://www.twilio.com/docs/usage/webhooks/sms-webhooks). A TwiML <Message>
reply's sid would reach us only later, in a request to its `statusCallback`
(https://www.twilio.com/docs/sms/twiml/message); sending through the sender has the sid at once,
and puts the budget and the country bound in the one place every text passes.

Twilio keeps its own opt-out list too: after STOP it blocks further texts
to the number from the sender, and depending on the account's opt-out settings it may answer
STOP itself instead of delivering our reply. Our part is the erasure.

A post with a missing or wrong signature is counted (services/replies.signature_refused): many in an
hour tell the coordinator.

Nothing here logs a number, a name or a message body.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from shared.adapters.storage import StorageUnavailable
from shared.composition import Services
from shared.core.domain import OUTBOX_PREFIX, MessageStatus
from shared.services.delivery import record_status
from shared.web.api import error_responses
from shared.web.common import read_form, services_of

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/sms", tags=["sms-webhooks"], responses=error_responses(400, 413, 415, 503))

# Twilio's own opt-out words (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE) and
# the Swedish and Norwegian ones residents use: all of them withdraw the number here too.
STOP_WORDS = frozenset(
    {
        "stop",
        "stopp",
        "stopall",
        "sluta",
        "avsluta",
        "avbryt",
        "avmeld",
        "avmelde",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "optout",
        "revoke",
    }
)
HELP_WORDS = frozenset({"help", "hjelp", "hjälp", "info"})
# Replies (templates sms/<locale>/{stop,help,unknown}_reply.txt) stay within this many segments.
MAX_REPLY_SEGMENTS = 2

# Twilio's message statuses → ours. A callback never moves a row back to pending or sending:
# those are the notifier's claim states, and a row put back there would be sent again.
_STATUSES: dict[str, MessageStatus] = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def _form_schema(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {name: {"type": "string", "description": text} for name, text in fields.items()},
                        "required": required,
                    }
                }
            },
        },
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "Twilio's signature of the public URL and the form parameters.",
            }
        ],
    }


# --- signature -----------------------------------------------------------------------------------


def public_url(request: Request, base_url: str | None) -> str:
    """The URL Twilio called: PUBLIC_BASE_URL + path (+ ? + query string as sent); else the request's own."""
    if not base_url:
        return str(request.url)
    url = base_url.rstrip("/") + request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


async def _signed_form(request: Request, services: Services) -> dict[str, str] | None:
    """The form parameters if Twilio signed this request; None otherwise (answer 403)."""
    form = await read_form(request, max_fields=100)  # Twilio posts urlencoded UTF-8 only: else 415/400
    token = services.settings.twilio_auth_token
    signature = request.headers.get("x-twilio-signature", "")
    if token is None or not token.get_secret_value() or not signature:
        return None
    from twilio.request_validator import RequestValidator  # lazily: the SDK is cold-start time

    url = public_url(request, services.settings.public_base_url)
    if not RequestValidator(token.get_secret_value()).validate(url, form, signature):
        return None
    return form


def _forbidden() -> Response:
    return Response(status_code=403)


def _field(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- delivery status -----------------------------------------------------------------------------


_STATUS_FIELDS = {
    "MessageSid": "The provider's id of the message.",
    "MessageStatus": "queued, sending, sent, delivered, undelivered or failed.",
    "ErrorCode": "The provider's error code, for undelivered and failed.",
}


@router.post(
    "/status",
    status_code=204,
    response_class=Response,
    summary="Twilio delivery status callback",
    description=(
        "Twilio's StatusCallback for a text from the outbox; the query names the row "
        "(`?theme=…&row=outbox.…`, as the notifier set it). Unknown rows and statuses are ignored (204). "
        "Undelivered or failed alerts the coordinator once. 403 without a valid X-Twilio-Signature."
    ),
    responses={403: {"description": "Missing or wrong X-Twilio-Signature; nothing changed."}},
    openapi_extra=_form_schema(_STATUS_FIELDS, ["MessageStatus"]),
)
async def delivery_status(request: Request) -> Response:
    services = services_of(request)
    form = await _signed_form(request, services)
    if form is None:
        return _forbidden()
    theme = request.query_params.get("theme", "")
    row = request.query_params.get("row", "")
    status = _STATUSES.get(_field(form, "MessageStatus").strip().lower())
    if status is None or services.organisation.theme(theme) is None or not row.startswith(OUTBOX_PREFIX):
        return Response(status_code=204)
    code = _field(form, "ErrorCode").strip()
    error_code = int(code) if code.isdigit() and len(code) < 10 else None
    await run_in_threadpool(record_status, services.interests, services.notifier, theme, row, status, error_code)
    return Response(status_code=204)


# --- inbound texts -------------------------------------------------------------------------------


_INBOUND_FIELDS = {
    "From": "The sender's number (E.164).",
    "To": "Our number.",
    "Body": "The text.",
    "MessageSid": "The provider's id of the message.",
}


def keyword(body: str) -> str:
    """'  Stopp! ' → 'stopp': case, surrounding space and punctuation do not matter."""
    text = unicodedata.normalize("NFC", body or "").strip().casefold()
    return _EDGES.sub("", text)


def twiml(text: str | None) -> Response:
    """One reply message; None: no reply (an empty <Response/>)."""
    message = f"<Message>{escape(text)}</Message>" if text is not None else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'
    return Response(body, media_type="application/xml")


@router.post(
    "/inbound",
    response_class=Response,
    summary="Twilio incoming message webhook",
    description=(
        "A text sent to our number. STOP (STOPP, SLUTA, AVSLUTA, AVBRYT, AVMELD, UNSUBSCRIBE, CANCEL, END, "
        "QUIT, … in any case) is queued before the answer and then erases the number everywhere: waiting "
        "interests, group memberships (the facilitator is told), the texts addressed to it, rate-limit counters, "
        "the provider's copies; a facilitator's number is deactivated and their links revoked. HELP/HJELP/HJÄLP/"
        "INFO is answered with who sends these texts and how to leave. Anything else from a facilitator is "
        "forwarded to the coordinator (capped per day); from a group member it is answered by a text naming "
        "their facilitator and the coordinator's contact (once a day); from anyone else, that this number is "
        "not read (once a day). Answers are texts of their own, only to numbers in the organisation's countries; "
        "the webhook's own answer is an empty TwiML <Response/>. 403 without a valid X-Twilio-Signature; 503 "
        "when a STOP could not be queued."
    ),
    responses={
        200: {"content": {"application/xml": {}}, "description": "An empty TwiML <Response/>."},
        403: {"description": "Missing or wrong X-Twilio-Signature; nothing changed."},
    },
    openapi_extra=_form_schema(_INBOUND_FIELDS, ["From", "Body"]),
)
async def inbound(request: Request) -> Response:
    services = services_of(request)
    form = await _signed_form(request, services)
    if form is None:
        await run_in_threadpool(services.replies.signature_refused)
        return _forbidden()
    phone = _field(form, "From").strip()
    word = keyword(_field(form, "Body"))
    sid = _field(form, "MessageSid").strip()
    if not _E164.match(phone):
        return twiml(None)  # no number to act on or answer ("anonymous", a short code)
    if word in STOP_WORDS:
        try:
            await run_in_threadpool(services.stop_requests.accept, phone, sid)
        except StorageUnavailable:
            return Response(status_code=503)  # not queued: see stop_requests on Twilio's retries
        log.info("inbound text: stop queued")
    elif word in HELP_WORDS:
        await run_in_threadpool(services.replies.help, phone, sid)
        log.info("inbound text: help")
    else:
        outcome = await run_in_threadpool(services.replies.receive, phone, _field(form, "Body"), sid)
        log.info("inbound text: %s", outcome.handled.value)
    return twiml(None)


__all__ = ["HELP_WORDS", "STOP_WORDS", "keyword", "public_url", "router"]
