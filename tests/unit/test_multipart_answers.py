"""The pooled transport's reading of a table batch's multipart answer (shared/adapters/transport.py), against
the stdlib email parser the SDK would use otherwise: the same parts, the same bytes."""

from __future__ import annotations

from email import message_from_bytes

from shared.adapters.transport import _multipart

BATCH, CHANGES = "batchresponse_5f1c", "changesetresponse_9a2e"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nDataServiceVersion: 3.0;\r\nETag: W/\"datetime'2026-12-04T20%3A03Z'\"\r\n\r\n"
REFUSED = (
    b"HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n\r\n"
    b'{"odata.error":{"code":"UpdateConditionNotSatisfied","message":{"lang":"en-US","value":"1:The update condition'
    b' specified in the request was not satisfied."}}}\r\n'
)


def answer(*responses: bytes) -> tuple[str, bytes]:
    parts = b"".join(
        f"--{CHANGES}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n".encode()
        + response
        + b"\r\n"
        for response in responses
    )
    body = (
        f"--{BATCH}\r\nContent-Type: multipart/mixed; boundary={CHANGES}\r\n\r\n".encode()
        + parts
        + f"--{CHANGES}--\r\n--{BATCH}--\r\n".encode()
    )
    return f"multipart/mixed; boundary={BATCH}", body


def as_the_email_parser_reads_it(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    message = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    [changeset] = message.get_payload()
    return [(part.get_content_type(), part.get_payload(decode=True)) for part in changeset.get_payload()]


def as_the_transport_reads_it(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    message = _multipart(content_type, body)
    assert message is not None
    [changeset] = message.get_payload()
    assert changeset.get_content_type() == "multipart/mixed"
    return [(part.get_content_type(), part.get_payload(decode=True)) for part in changeset.get_payload()]


def test_a_committed_batch_reads_as_the_email_parser_reads_it() -> None:
    content_type, body = answer(NO_CONTENT, NO_CONTENT)
    parts = as_the_transport_reads_it(content_type, body)
    assert parts == as_the_email_parser_reads_it(content_type, body)
    assert parts == [("application/http", NO_CONTENT), ("application/http", NO_CONTENT)]


def test_a_refused_batch_keeps_the_error_body_byte_for_byte() -> None:
    content_type, body = answer(REFUSED)
    assert as_the_transport_reads_it(content_type, body) == as_the_email_parser_reads_it(content_type, body)
    assert as_the_transport_reads_it(content_type, body) == [("application/http", REFUSED)]


def test_anything_unexpected_is_left_to_the_sdks_parser() -> None:
    content_type, body = answer(NO_CONTENT)
    assert _multipart("multipart/mixed", body) is None  # no boundary named
    assert _multipart(content_type, body[: body.index(f"--{CHANGES}--".encode())]) is None  # cut short
    text = f"--{BATCH}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{BATCH}--\r\n".encode()
    assert _multipart(content_type, text) is None  # a part that is not an HTTP answer
