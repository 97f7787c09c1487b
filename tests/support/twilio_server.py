"""A Twilio-compatible Messages API on loopback, for tests and local development.

It speaks the part of the Twilio REST API our sender uses, the way the `twilio` SDK calls it:
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form-encoded body and HTTP Basic
auth, answering 201 with a message resource, or a Twilio error document
``{"code", "message", "more_info", "status"}``; ``GET …/Messages.json`` lists them, and
``DELETE …/Messages/{Sid}.json`` deletes one as Twilio does (see "Delete a Message resource",
https://www.twilio.com/docs/messaging/api/message-resource#delete-a-message-resource): 204 with no
body, 404 (code 20404) for a sid it does not hold, and error 20009 "Cannot delete this resource before
it is complete" (https://www.twilio.com/docs/api/errors/20009) while the message has no final status.
Twilio finalises a message when the carrier's delivery receipt arrives (sometimes only after hours),
so a message here stays "queued" until a test calls `settle()`.

Scripting a test::

    with LoopbackTwilio() as twilio:
        twilio.plan(Throttle(retry_after=2), Accept())     # the next two requests, in order
        twilio.reject_numbers({"+46701740699": 21211})     # always, for that number
        twilio.fail_every(5)                               # every 5th request answers 500
        twilio.hold_sends(4, timeout=10)                   # each send waits until four are in flight
        twilio.wait_held(3, timeout=5)                     # until three sends are being held
        ...
        twilio.wait_for(3, timeout=5)                      # until three messages were accepted
        twilio.settle()                                    # every message delivered: now deletable
        sid = twilio.receive_inbound("+46701740699", "STOPP")  # a text to our number, as Twilio keeps it
        twilio.stored                                      # the message resources it still holds
        twilio.listings                                    # the To filter of each list request

For each authenticated request the first rule that applies decides the answer: a planned
response, then a rejected number, then `fail_every`, else 201. With `hold_sends(n)` every valid send
first waits at a `threading.Barrier` of n parties: none is answered until n are in flight at once, so
a caller that sends one at a time never gets past the first; when the barrier's timeout passes it
breaks, and the held sends (and every later one) are answered 503 instead of hanging. Requests with bad credentials are
answered 401 before any rule and use no planned response.

Standalone, for developers (binds 127.0.0.1 only)::

    python -m tests.support.twilio_server --port 8099
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import re
import secrets
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.adapters.sms.base import masked
from shared.core.sms_segments import segment_info

HOST = "127.0.0.1"  # loopback only, always
API_VERSION = "2010-04-01"
_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")

# Statuses after which Twilio lets a message be deleted (outbound: the carrier's receipt decided it;
# inbound: received). Before them DELETE answers 20009. The HTTP status of that answer is not on the
# error page; 409 is our choice, and the sender decides by the code, not the status.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled", "received"})
NOT_COMPLETE_STATUS = 409

_ERROR_TEXT: dict[int, str] = {
    20003: "Authenticate",
    20009: "Cannot delete this resource before it is complete",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
}


# --- scripted responses --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """Answer 201 with a queued message."""


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer with a Twilio error document, e.g. 400 / 21211 (invalid 'To' number)."""

    code: int = 21211
    status: int = 400


@dataclass(frozen=True, slots=True)
class Throttle:
    """Answer 429 (code 20429) with a Retry-After header, in seconds."""

    retry_after: float | str = 1


@dataclass(frozen=True, slots=True)
class ServerError:
    """Answer with a 5xx status and a Twilio error document."""

    status: int = 500


@dataclass(frozen=True, slots=True)
class Stall:
    """Wait `seconds` before answering 201 (to make client timeouts happen)."""

    seconds: float


Response = Accept | Reject | Throttle | ServerError | Stall


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    status_callback: str | None
    sid: str | None  # set when the answer was 201
    status_code: int
    received_at: datetime


def _new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error_document(code: int, status: int, to: str | None = None) -> dict[str, Any]:
    if code in _ERROR_TEXT:
        text = _ERROR_TEXT[code]
    else:
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = "Error"
    return {
        "code": code,
        "message": text.format(to=to or ""),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


# --- server --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default of 5 drops SYNs of a burst: a 1 s retransmit each
    twilio: LoopbackTwilio

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) closes its socket: not worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.twilio.com; every answer has a Content-Length
    server_version = "LoopbackTwilio/1.0"
    timeout = 30  # idle keep-alive connections end instead of holding a thread for ever
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        return {key: values[-1] for key, values in form.items()}

    def _answer(self, status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(document).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Twilio-Request-Id", _new_sid("RQ"))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = self._read_form()
        match = _MESSAGES_PATH.match(path)
        if match is None:
            self._answer(404, _error_document(20404, 404))
            return
        self.server.twilio._handle_message(self, match["account"], form)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        match = _MESSAGES_PATH.match(parts.path)
        if match is None:
            self._answer(404, _error_document(20404, 404))
            return
        if not self.authorized(match["account"]):
            self._answer(401, _error_document(20003, 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.server.twilio._note_listing(query.get("To"))
        self._answer(200, self.server.twilio._list_document(match["account"], query.get("To"), parts.path))

    def do_DELETE(self) -> None:
        match = _MESSAGE_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._answer(404, _error_document(20404, 404))
            return
        if not self.authorized(match["account"]):
            self._answer(401, _error_document(20003, 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return
        self.server.twilio._handle_delete(self, match["sid"])

    def _no_content(self) -> None:
        try:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.send_header("Twilio-Request-Id", _new_sid("RQ"))
            self.end_headers()
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def authorized(self, account: str) -> bool:
        twilio = self.server.twilio
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            hmac.compare_digest(user, twilio.account_sid)
            and hmac.compare_digest(password, twilio.auth_token)
            and account == twilio.account_sid
        )


class LoopbackTwilio:
    """A Twilio-compatible Messages endpoint on 127.0.0.1, in a daemon thread."""

    def __init__(
        self,
        *,
        port: int = 0,
        account_sid: str | None = None,
        auth_token: str | None = None,
        on_accept: Callable[[ReceivedMessage], None] | None = None,
    ) -> None:
        self._port = port
        self._account_sid = account_sid or _new_sid("AC")
        self._auth_token = auth_token or secrets.token_hex(16)
        self._on_accept = on_accept
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received: list[ReceivedMessage] = []
        self._documents: dict[str, dict[str, Any]] = {}  # sid -> message as the API shows it, oldest first
        self._deleted: list[str] = []
        self._listings: list[str | None] = []  # the To filter of each authenticated list request
        self._plan: deque[Response] = deque()
        self._rejected: dict[str, int] = {}
        self._fail_every: tuple[int, int] | None = None
        self._authenticated = 0
        self._hold: threading.Barrier | None = None
        self._held = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> LoopbackTwilio:
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        server = _Server((HOST, self._port), _Handler)
        server.twilio = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # ends any Stall early
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LoopbackTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # settings

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def account_sid(self) -> str:
        return self._account_sid

    @property
    def auth_token(self) -> str:
        return self._auth_token

    # scripting

    def plan(self, *responses: Response) -> None:
        """Queue answers for the next authenticated requests, in order; afterwards the rules apply."""
        with self._lock:
            self._plan.extend(responses)

    def reject_numbers(self, numbers: Mapping[str, int] | Iterable[str]) -> None:
        """Always reject these numbers: {number: Twilio code}, or numbers (code 21211)."""
        items = numbers.items() if isinstance(numbers, Mapping) else ((n, 21211) for n in numbers)
        with self._lock:
            self._rejected.update(items)

    def fail_every(self, n: int, status: int = 500) -> None:
        """Answer every n-th authenticated request (counted from now) with `status`; n=0 turns it off."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._fail_every = (n, status) if n else None
            self._authenticated = 0

    def hold_sends(self, parties: int, *, timeout: float) -> None:
        """Hold each send until `parties` sends are in flight at once; after `timeout` s the barrier breaks."""
        if parties < 1 or not timeout > 0:
            raise ValueError("parties must be positive and the timeout must be positive")
        with self._lock:
            self._hold = threading.Barrier(parties, timeout=timeout)
            self._held = 0

    def wait_held(self, count: int, timeout: float = 5.0) -> None:
        """Block until at least `count` sends have reached the barrier; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._held < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._held} of {count} sends held within {timeout} s")
                self._changed.wait(remaining)

    @property
    def held(self) -> int:
        """How many sends have reached the barrier so far."""
        with self._lock:
            return self._held

    @property
    def holding(self) -> int:
        """How many sends are waiting at the barrier now."""
        with self._lock:
            barrier = self._hold
        return barrier.n_waiting if barrier is not None else 0

    def reset(self) -> None:
        """Forget received messages and all scripting."""
        with self._lock:
            self._received.clear()
            self._documents.clear()
            self._deleted.clear()
            self._plan.clear()
            self._rejected.clear()
            self._fail_every = None
            self._authenticated = 0
            self._hold = None
            self._held = 0

    # observing

    @property
    def received(self) -> list[ReceivedMessage]:
        """Every request to the Messages endpoint, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> list[ReceivedMessage]:
        """The requests answered 201."""
        with self._lock:
            return [m for m in self._received if m.status_code == 201]

    @property
    def stored(self) -> list[dict[str, Any]]:
        """The message resources the provider still holds (numbers and bodies included), oldest first."""
        with self._lock:
            return [dict(d) for d in self._documents.values()]

    @property
    def deleted(self) -> list[str]:
        """The sids deleted through the API, in order."""
        with self._lock:
            return list(self._deleted)

    def receive_inbound(self, from_: str, body: str, *, to: str = "+46766861000", sid: str | None = None) -> str:
        """Hold an inbound message as Twilio stores one when a text reaches our number (direction "inbound",
        status "received", the sender's number and words), before it posts the incoming-message webhook;
        returns its sid, the webhook's MessageSid. DELETE removes it like any other message (it is final)."""
        sid = sid or _new_sid("SM")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self._account_sid}/Messages/{sid}.json"
        document = {
            "account_sid": self._account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": now,
            "date_updated": now,
            "direction": "inbound",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(max(1, segment_info(body).segments)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "received",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        with self._lock:
            self._documents[sid] = document
        return sid

    def settle(self, status: str = "delivered", sids: Iterable[str] | None = None) -> None:
        """Give messages (all, or `sids`) a status, as the carrier's receipt does: "delivered" by default."""
        with self._lock:
            for sid in self._documents if sids is None else sids:
                document = self._documents.get(sid)
                if document is not None and document["direction"] != "inbound":  # received is final already
                    document["status"] = status
                    document["date_updated"] = format_datetime(datetime.now(UTC), usegmt=True)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages were accepted; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                accepted = [m for m in self._received if m.status_code == 201]
                if len(accepted) >= count:
                    return accepted
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(accepted)} of {count} messages accepted within {timeout} s")
                self._changed.wait(remaining)

    # the endpoint

    def _decide(self, form: Mapping[str, str] | None) -> Response:
        """The answer to an authenticated request: to send `form`, or (None) to delete a message."""
        with self._lock:
            self._authenticated += 1
            if self._plan:
                return self._plan.popleft()
            to = form.get("To", "") if form is not None else None
            if to is not None and to in self._rejected:
                return Reject(code=self._rejected[to], status=400)
            if self._fail_every is not None and self._authenticated % self._fail_every[0] == 0:
                return ServerError(status=self._fail_every[1])
        return Accept()

    def _record(self, form: Mapping[str, str], sid: str | None, status_code: int) -> ReceivedMessage:
        message = ReceivedMessage(
            to=form.get("To"),
            from_=form.get("From"),
            messaging_service_sid=form.get("MessagingServiceSid"),
            body=form.get("Body"),
            status_callback=form.get("StatusCallback"),
            sid=sid,
            status_code=status_code,
            received_at=datetime.now(UTC),
        )
        with self._changed:
            self._received.append(message)
            self._changed.notify_all()
        return message

    @property
    def listings(self) -> list[str | None]:
        """The `To` filter of each list request (a sender asking whether it sent a text already)."""
        with self._lock:
            return list(self._listings)

    def _note_listing(self, to: str | None) -> None:
        with self._lock:
            self._listings.append(to)

    def _list_document(self, account: str, to: str | None, path: str) -> dict[str, Any]:
        """`GET …/Messages.json?To=…`: accepted messages, newest first, one page (as Twilio's list answers)."""
        with self._lock:
            messages = [d for d in reversed(self._documents.values()) if to is None or d["to"] == to][:50]
        return {
            "messages": messages,
            "page": 0,
            "page_size": 50,
            "start": 0,
            "end": max(0, len(messages) - 1),
            "uri": path,
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
        }

    def _handle_message(self, handler: _Handler, account: str, form: dict[str, str]) -> None:
        if not handler.authorized(account):
            self._record(form, None, 401)
            handler._answer(401, _error_document(20003, 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return
        to = form.get("To")
        error_code = (
            21604
            if not to
            else 21603
            if not (form.get("From") or form.get("MessagingServiceSid"))
            else 21602
            if not form.get("Body")
            else None
        )
        if error_code is not None:
            self._record(form, None, 400)
            handler._answer(400, _error_document(error_code, 400, to))
            return
        if not self._wait_at_barrier():
            self._record(form, None, 503)
            handler._answer(503, _error_document(20503, 503))
            return

        response = self._decide(form)
        if isinstance(response, Reject):
            self._record(form, None, response.status)
            handler._answer(response.status, _error_document(response.code, response.status, to))
        elif isinstance(response, Throttle):
            self._record(form, None, 429)
            handler._answer(429, _error_document(20429, 429), {"Retry-After": str(response.retry_after)})
        elif isinstance(response, ServerError):
            self._record(form, None, response.status)
            handler._answer(response.status, _error_document(20000 + response.status, response.status))
        else:
            if isinstance(response, Stall):
                self._stopping.wait(response.seconds)
            self._accept(handler, account, form)

    def _wait_at_barrier(self) -> bool:
        """False when the barrier broke (too few sends came in time); True when there is none."""
        with self._changed:
            barrier = self._hold
            if barrier is None:
                return True
            self._held += 1
            self._changed.notify_all()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return False
        return True

    def _handle_delete(self, handler: _Handler, sid: str) -> None:
        """Scripted answers apply to deletes too (a planned Reject answers with its code)."""
        response = self._decide(None)
        if isinstance(response, Reject):
            handler._answer(response.status, _error_document(response.code, response.status))
            return
        if isinstance(response, Throttle):
            handler._answer(429, _error_document(20429, 429), {"Retry-After": str(response.retry_after)})
            return
        if isinstance(response, ServerError):
            handler._answer(response.status, _error_document(20000 + response.status, response.status))
            return
        if isinstance(response, Stall):
            self._stopping.wait(response.seconds)
        with self._lock:
            document = self._documents.get(sid)
            if document is not None and document["status"] in FINAL_STATUSES:
                del self._documents[sid]
                self._deleted.append(sid)
        if document is None:
            handler._answer(404, _error_document(20404, 404))
        elif document["status"] not in FINAL_STATUSES:
            handler._answer(NOT_COMPLETE_STATUS, _error_document(20009, NOT_COMPLETE_STATUS))
        else:
            handler._no_content()

    def _accept(self, handler: _Handler, account: str, form: dict[str, str]) -> None:
        sid = _new_sid("SM")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        body = form.get("Body", "")
        service = form.get("MessagingServiceSid")
        uri = f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json"
        document = {
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(max(1, segment_info(body).segments)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # Through a messaging service Twilio answers "accepted" until it has picked a sender.
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": form.get("To"),
            "uri": uri,
        }
        message = self._record(form, sid, 201)
        with self._lock:
            self._documents[sid] = document
        handler._answer(201, document)
        if self._on_accept is not None:
            self._on_accept(message)


# --- standalone ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Twilio-compatible Messages API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--account-sid", default=None, help="default: a new random AC… sid")
    parser.add_argument("--auth-token", default=None, help="default: a new random token")
    parser.add_argument("--from", dest="from_", default="+46701740605", help="sender number to export")
    args = parser.parse_args(argv)

    def show(message: ReceivedMessage) -> None:
        # A developer tool on loopback: like the local outbox, it shows the body (the verification
        # code must be readable) and masks the number.
        text = (message.body or "").replace("\n", "\\n")
        print(f"[loopback-twilio] {message.sid} to {masked(message.to or '')}: {text}", flush=True)

    twilio = LoopbackTwilio(port=args.port, account_sid=args.account_sid, auth_token=args.auth_token, on_accept=show)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops it as cleanly as Ctrl-C
    twilio.start()
    try:
        print("# Loopback Twilio is listening on 127.0.0.1. Export these, then start the app:")
        print(f"export TWILIO_API_BASE_URL={twilio.base_url}")
        print(f"export TWILIO_ACCOUNT_SID={twilio.account_sid}")
        print(f"export TWILIO_AUTH_TOKEN={twilio.auth_token}")
        print(f"export TWILIO_FROM='{args.from_}'", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        twilio.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
