"""The URL Twilio signed, as the webhooks rebuild it (shared/web/sms_webhooks.public_url): the public
base URL, the path and the query string exactly as sent. A wrong character here fails every genuine
signature, or lets a signature for another URL pass. Mutation testing (docs/mutation.md) left these open."""

from __future__ import annotations

from starlette.requests import Request

from shared.web.sms_webhooks import public_url


def request(path: str, query: bytes = b"") -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("10.0.0.4", 8080),  # behind Azure's front end: not the URL Twilio called
        "path": path,
        "query_string": query,
        "headers": [],
    }
    return Request(scope)


def test_the_public_base_url_replaces_the_requests_own() -> None:
    assert public_url(request("/api/sms/inbound"), "https://g.example") == "https://g.example/api/sms/inbound"


def test_a_trailing_slash_of_the_base_url_is_not_doubled() -> None:
    assert public_url(request("/api/sms/inbound"), "https://g.example/") == "https://g.example/api/sms/inbound"


def test_the_query_string_is_kept_as_sent() -> None:
    query = b"theme=stress&row=outbox.1%2B2&x=%C3%A5"
    assert (
        public_url(request("/api/sms/status", query), "https://g.example")
        == "https://g.example/api/sms/status?theme=stress&row=outbox.1%2B2&x=%C3%A5"
    )


def test_without_a_base_url_the_requests_own_url_is_used() -> None:
    assert public_url(request("/api/sms/status", b"a=1"), None) == "http://10.0.0.4:8080/api/sms/status?a=1"
    assert public_url(request("/api/sms/status"), "") == "http://10.0.0.4:8080/api/sms/status"
