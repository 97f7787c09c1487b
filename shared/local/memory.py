"""An in-memory twin of the storage account, for the fast test tier (`make test-fast`); never deployed.

The twin sits at the storage-client level: `MemoryAccount` is a `StorageAccount` whose table and queue
services live in this process, so every adapter above it (the unit of work and its rows, the rate
limiter, the audit log, the provider copies, the queues' users) runs unchanged on it. Its table and
queue clients implement exactly the part of `azure.data.tables.TableClient` and
`azure.storage.queue.QueueClient` the app and its tests call, with the service's rules:

- every write gives the row a new ETag (and Timestamp); `MatchConditions.IfNotModified` with a stale
  ETag fails with `ResourceModifiedError` (412), a missing row with `ResourceNotFoundError` (404), a
  create over an existing row with `ResourceExistsError` (409);
- an entity-group transaction is atomic, of at most 100 operations in one partition
  (https://learn.microsoft.com/en-us/rest/api/storageservices/performing-entity-group-transactions),
  and fails whole with `TableTransactionError` naming the failing operation, as the SDK raises it;
- queries take the OData filters the app issues (eq/ne/gt/ge/lt/le, and/or/not, parentheses, string,
  datetime, number, bool and guid literals; `@name` parameters substituted by the SDK's own code, so
  its quirks hold here too) and `select`
  (https://learn.microsoft.com/en-us/rest/api/storageservices/querying-tables-and-entities);
- queue messages have visibility timeouts, dequeue counts and pop receipts
  (https://learn.microsoft.com/en-us/rest/api/storageservices/get-messages).

Entities are stored in the service's JSON form, written and read with the SDK's own (de)serializers,
so types come back as they come back from Azure (`TablesEntityDatetime`, Int64 as `EntityProperty`).
`tests/contract/` runs one suite against this twin and Azurite to keep the two honest.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode
from azure.data.tables._deserialize import _convert_to_entity, _from_entity_datetime
from azure.data.tables._serialize import _add_entity_properties, _parameter_filter_substitution

from shared.adapters.storage import StorageAccount

MAX_TRANSACTION_OPERATIONS = 100
MAX_MESSAGE_BYTES = 64 * 1024  # a queue message's limit, counted as sent (base64 text)
MESSAGE_TTL = timedelta(days=7)  # the service's default time-to-live
DEFAULT_VISIBILITY = 30  # seconds a received message stays hidden unless told otherwise


def _failure(kind: type[HttpResponseError], status: int, code: str, message: str) -> HttpResponseError:
    """An SDK exception as the SDK raises it for a service answer: status and error code set (the app's
    `storage_errors` tells a 4xx from an outage by the status)."""
    error = kind(message=f"{message}\nErrorCode:{code}")
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]
    error.reason = code
    return error


def _not_found(what: str = "The specified resource does not exist.", code: str = "ResourceNotFound") -> Any:
    return _failure(ResourceNotFoundError, 404, code, what)


# ------------------------------------------------------------------------------------------------
# Versions: Timestamps and ETags, as the service forms them


class _Ticks:
    """Strictly increasing write times in the service's 100 ns ticks: no two writes share an ETag."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> tuple[str, Any]:
        now = time.time_ns() // 100
        self._last = max(now, self._last + 1)
        seconds, ticks = divmod(self._last, 10_000_000)
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07d}Z"
        return "W/\"datetime'" + quote(stamp) + "'\"", _from_entity_datetime(stamp)


# ------------------------------------------------------------------------------------------------
# OData filters


_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))"
    r"|(?P<typed>(?:datetime|guid|X|binary)'[^']*')"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlDd]?)"
    r"|(?P<word>[@A-Za-z_][A-Za-z0-9_]*))"
)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_MISSING = object()
Predicate = Callable[[Mapping[str, Any]], bool]


def _bad_filter(text: str) -> HttpResponseError:
    return _failure(HttpResponseError, 400, "InvalidInput", f"One of the request inputs is not valid: {text}")


def _datetime_literal(text: str) -> datetime:
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,7}))?Z?", text)
    if match is None:
        raise _bad_filter(text)
    whole, fraction = match.groups()
    stamp = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return stamp.replace(microsecond=int((fraction or "0").ljust(7, "0")[:6]))


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'")
    if kind == "number":
        body = text.rstrip("LlDd")
        return float(body) if any(c in body for c in ".eE") or text[-1:] in "Dd" else int(body)
    prefix, _, rest = text.partition("'")
    value = rest[:-1]
    if prefix == "datetime":
        return _datetime_literal(value)
    if prefix == "guid":
        return uuid.UUID(value)
    return bytes.fromhex(value)


def _comparable(stored: Any, literal: Any) -> bool:
    """The service compares a property only with a literal of its own type; any other row does not match."""
    if isinstance(stored, bool) or isinstance(literal, bool):
        return isinstance(stored, bool) and isinstance(literal, bool)
    if isinstance(stored, int | float) and isinstance(literal, int | float):
        return True
    return type(stored) is type(literal) or (isinstance(stored, datetime) and isinstance(literal, datetime))


class _Parser:
    """or_expr := and_expr ('or' and_expr)*; and_expr := unary ('and' unary)*;
    unary := 'not' unary | '(' or_expr ')' | operand comparison operand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise _bad_filter(text)
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.at != len(self.tokens):
            raise _bad_filter(self.text)
        return predicate

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "end":
            raise _bad_filter(self.text)
        self.at += 1
        return token

    def _keyword(self, word: str) -> bool:
        kind, text = self._peek()
        if kind == "word" and text.lower() == word:
            self.at += 1
            return True
        return False

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._keyword("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while self._keyword("and"):
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def _unary(self) -> Predicate:
        if self._keyword("not"):
            inner = self._unary()
            return lambda row: not inner(row)
        if self._peek()[0] == "open":
            self._take()
            inner = self._or()
            if self._take()[0] != "close":
                raise _bad_filter(self.text)
            return inner
        return self._comparison()

    def _operand(self) -> tuple[str, Any]:
        kind, text = self._take()
        if kind == "word":
            if text.startswith("@"):  # a parameter the SDK did not substitute: the service refuses it
                raise _bad_filter(self.text)
            if text in ("true", "false"):
                return "value", text == "true"
            return "property", text
        if kind in ("string", "number", "typed"):
            return "value", _literal(kind, text)
        raise _bad_filter(self.text)

    def _comparison(self) -> Predicate:
        left = self._operand()
        kind, operator = self._take()
        compare = _COMPARISONS.get(operator.lower()) if kind == "word" else None
        if compare is None:
            raise _bad_filter(self.text)
        right = self._operand()
        if left[0] == "value" and right[0] == "property":  # 'x' lt Prop reads as Prop gt 'x'
            left, right = right, left
            compare = _COMPARISONS[_FLIPPED[operator.lower()]]
        if left[0] != "property" or right[0] != "value":
            raise _bad_filter(self.text)
        name, literal = left[1], right[1]

        def matches(row: Mapping[str, Any]) -> bool:
            stored = row.get(name, _MISSING)
            if stored is _MISSING:
                return False
            stored = getattr(stored, "value", stored)  # an EntityProperty (Int64) compares by its value
            return _comparable(stored, literal) and compare(stored, literal)

        return matches


_compiled: dict[str, Predicate] = {}


def _predicate(query_filter: str) -> Predicate:
    predicate = _compiled.get(query_filter)
    if predicate is None:
        predicate = _compiled[query_filter] = _Parser(query_filter).parse()
    return predicate


# ------------------------------------------------------------------------------------------------
# Tables


@dataclass
class _Row:
    wire: dict[str, Any]  # the entity in the service's JSON form (values and their @odata.type)
    values: TableEntity  # the same, as the SDK decodes it (read-only: copied into every answer)
    etag: str
    timestamp: Any


def _operation_name(operation: Any) -> str:
    return (operation.value if isinstance(operation, Enum) else str(operation)).lower()


def _keys(entity: Mapping[str, Any]) -> tuple[str, str]:
    partition, row = entity.get("PartitionKey"), entity.get("RowKey")
    if not isinstance(partition, str) or not isinstance(row, str):
        raise _failure(HttpResponseError, 400, "PropertiesNeedValue", "PartitionKey and RowKey must be strings.")
    return partition, row


def _etag_condition(entity: Any, etag: str | None, match_condition: MatchConditions | None) -> str | None:
    """The ETag a write is conditioned on, read as the SDK reads its arguments (None: unconditional)."""
    if match_condition is None or match_condition == MatchConditions.Unconditionally:
        return None
    if match_condition != MatchConditions.IfNotModified:
        raise ValueError(f"unsupported match condition {match_condition}")
    if not etag and isinstance(entity, TableEntity):
        etag = entity.metadata.get("etag")
    if not etag:
        raise ValueError("IfNotModified must be specified with etag.")
    return etag


class MemoryTableClient:
    """The part of `azure.data.tables.TableClient` the app uses, on a table of a `MemoryTableService`."""

    def __init__(self, service: MemoryTableService, table_name: str) -> None:
        self._service = service
        self.table_name = table_name

    # reading ----------------------------------------------------------------------------------

    def _rows(self) -> dict[tuple[str, str], _Row]:
        rows = self._service._tables.get(self.table_name)
        if rows is None:
            raise _not_found("The table specified does not exist.", "TableNotFound")
        return rows

    @staticmethod
    def _answer(row: _Row, select: list[str] | None) -> TableEntity:
        entity = TableEntity(row.values if select is None else {k: row.values[k] for k in select if k in row.values})
        # As the service answers a query with $select: the ETag, and no Timestamp unless asked for.
        timestamp = row.timestamp if select is None or "Timestamp" in select else None
        entity._metadata = {"etag": row.etag, "timestamp": timestamp}
        return entity

    def get_entity(self, partition_key: str, row_key: str, *, select: str | list[str] | None = None) -> TableEntity:
        with self._service._lock:
            row = self._rows().get((partition_key, row_key))
            if row is None:
                raise _not_found()
            return self._answer(row, _selected(select))

    def query_entities(
        self,
        query_filter: str,
        *,
        parameters: dict[str, Any] | None = None,
        select: str | list[str] | None = None,
        results_per_page: int | None = None,
    ) -> _Results:
        text = _parameter_filter_substitution(parameters, query_filter)
        return _Results(lambda: self._matching(_predicate(text), _selected(select)))

    def list_entities(self, *, select: str | list[str] | None = None, results_per_page: int | None = None) -> _Results:
        return _Results(lambda: self._matching(None, _selected(select)))

    def _matching(self, predicate: Predicate | None, select: list[str] | None) -> list[TableEntity]:
        with self._service._lock:
            rows = self._rows()
            # The service answers in (PartitionKey, RowKey) order.
            return [
                self._answer(rows[key], select)
                for key in sorted(rows)
                if predicate is None or predicate(rows[key].values)
            ]

    # writing one row --------------------------------------------------------------------------

    def create_entity(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        with self._service._lock:
            rows = self._rows()
            written = self._service._write(rows, self._create(rows, entity))
            return self._meta(written)

    def update_entity(
        self,
        entity: Mapping[str, Any],
        mode: UpdateMode | str = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> dict[str, Any]:
        condition = _etag_condition(entity, etag, match_condition)
        with self._service._lock:
            rows = self._rows()
            written = self._service._write(rows, self._update(rows, entity, mode, condition))
            return self._meta(written)

    def upsert_entity(self, entity: Mapping[str, Any], mode: UpdateMode | str = UpdateMode.MERGE) -> dict[str, Any]:
        with self._service._lock:
            rows = self._rows()
            written = self._service._write(rows, self._upsert(rows, entity, mode))
            return self._meta(written)

    def delete_entity(
        self,
        *args: Any,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> None:
        """`delete_entity(partition_key, row_key)` or `delete_entity(entity)`; a row already gone is no
        error, as the SDK has it, with or without an ETag."""
        entity: Any = args[0] if len(args) == 1 else {"PartitionKey": args[0], "RowKey": args[1]}
        condition = _etag_condition(entity, etag, match_condition)
        with self._service._lock:
            rows = self._rows()
            key = _keys(entity)
            row = rows.get(key)
            if row is None:
                return
            if condition is not None and condition != row.etag:
                raise _failure(ResourceModifiedError, 412, "UpdateConditionNotSatisfied", "The update condition …")
            del rows[key]

    @staticmethod
    def _meta(written: list[_Row | None]) -> dict[str, Any]:
        [row] = written
        assert row is not None
        return {"date": datetime.now(UTC).replace(microsecond=0), "etag": row.etag, "version": "2025-11-05"}

    # the rules of each operation (checked against `rows`, which may be a transaction's copy) ---

    @staticmethod
    def _create(rows: dict[tuple[str, str], _Row], entity: Mapping[str, Any]) -> list[tuple[Any, Any]]:
        wire = _add_entity_properties(entity)
        key = _keys(wire)
        if key in rows:
            raise _failure(ResourceExistsError, 409, "EntityAlreadyExists", "The specified entity already exists.")
        return [(key, wire)]

    @staticmethod
    def _update(
        rows: dict[tuple[str, str], _Row], entity: Mapping[str, Any], mode: UpdateMode | str, condition: str | None
    ) -> list[tuple[Any, Any]]:
        wire = _add_entity_properties(entity)
        key = _keys(wire)
        row = rows.get(key)
        if row is None:
            raise _not_found()
        if condition is not None and condition != row.etag:
            raise _failure(ResourceModifiedError, 412, "UpdateConditionNotSatisfied", "The update condition …")
        return [(key, _merged(row.wire, wire) if _is_merge(mode) else wire)]

    @staticmethod
    def _upsert(
        rows: dict[tuple[str, str], _Row], entity: Mapping[str, Any], mode: UpdateMode | str
    ) -> list[tuple[Any, Any]]:
        wire = _add_entity_properties(entity)
        key = _keys(wire)
        row = rows.get(key)
        return [(key, _merged(row.wire, wire) if row is not None and _is_merge(mode) else wire)]

    # transactions -----------------------------------------------------------------------------

    def submit_transaction(self, operations: Any) -> list[dict[str, Any]]:
        """All operations or none; one partition, at most 100, each row once."""
        steps = [_step(op) for op in operations]
        partitions = {step[1].get("PartitionKey") for step in steps}
        if len(partitions) > 1:  # the SDK refuses it before sending
            raise ValueError("Partition Keys in the batch must all be the same.")
        if not steps:
            raise _failure(HttpResponseError, 500, "InternalError", "An empty batch.")  # Azurite's answer
        with self._service._lock:
            rows = self._rows()
            if len(steps) > MAX_TRANSACTION_OPERATIONS:
                raise _transaction_failure(0, 400, "InvalidInput", "The batch request operation exceeds 100 changes.")
            # Each row appears once, so every step is checked against the partition as it was; `rows`
            # changes only once every step has passed.
            writes: list[tuple[Any, Any]] = []
            seen: set[tuple[str, str]] = set()
            for index, (name, entity, options) in enumerate(steps):
                try:
                    key = _keys(entity)
                    if key in seen:
                        raise _failure(HttpResponseError, 400, "InvalidDuplicateRow", "The batch contains a row twice.")
                    seen.add(key)
                    if name == "create":
                        change = self._create(rows, entity)
                    elif name == "update":
                        condition = _etag_condition(entity, options.get("etag"), options.get("match_condition"))
                        change = self._update(rows, entity, options.get("mode", UpdateMode.MERGE), condition)
                    elif name == "upsert":
                        change = self._upsert(rows, entity, options.get("mode", UpdateMode.MERGE))
                    elif name == "delete":
                        condition = _etag_condition(entity, options.get("etag"), options.get("match_condition"))
                        row = rows.get(key)
                        if row is None:
                            raise _not_found()
                        if condition is not None and condition != row.etag:
                            raise _failure(ResourceModifiedError, 412, "UpdateConditionNotSatisfied", "…")
                        change = [(key, None)]
                    else:
                        raise ValueError(f"unknown transaction operation {name!r}")
                except HttpResponseError as failed:
                    code = getattr(failed, "error_code", None) or "InvalidInput"
                    raise _transaction_failure(index, failed.status_code or 400, code, failed.message) from None
                writes += change
            written = self._service._write(rows, writes)
            return [{} if row is None else {"etag": row.etag} for row in written]


def _step(operation: Any) -> tuple[str, Mapping[str, Any], dict[str, Any]]:
    name, entity, *rest = operation
    return _operation_name(name), entity, dict(rest[0]) if rest else {}


def _transaction_failure(index: int, status: int, code: str, message: str) -> TableTransactionError:
    text = message.split("\nErrorCode:")[0]
    error = TableTransactionError(message=f"{index}:{text}\nErrorCode:{code}")
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]
    error.reason = code
    return error


def _is_merge(mode: UpdateMode | str) -> bool:
    return (mode.value if isinstance(mode, Enum) else str(mode)).lower() == "merge"


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """MERGE: the new properties over the old ones, each with its own type annotation."""
    merged = dict(old)
    for name in new:
        if not name.endswith("@odata.type"):
            merged.pop(name + "@odata.type", None)
    merged.update(new)
    return merged


def _selected(select: str | list[str] | None) -> list[str] | None:
    if select is None:
        return None
    return [s.strip() for s in select.split(",")] if isinstance(select, str) else list(select)


class _Results:
    """A lazy answer, like the SDK's `ItemPaged`: the table is read on the first `next`."""

    def __init__(self, fetch: Callable[[], list[TableEntity]]) -> None:
        self._fetch = fetch
        self._items: Iterator[TableEntity] | None = None

    def __iter__(self) -> _Results:
        return self

    def __next__(self) -> TableEntity:
        if self._items is None:
            self._items = iter(self._fetch())
        return next(self._items)

    next = __next__


@dataclass
class _TableItem:
    name: str


class MemoryTableService:
    """The part of `TableServiceClient` the app uses; holds every table's rows."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._tables: dict[str, dict[tuple[str, str], _Row]] = {}
        self._ticks = _Ticks()

    def get_table_client(self, table_name: str, **_: Any) -> MemoryTableClient:
        return MemoryTableClient(self, table_name)

    def create_table(self, table_name: str) -> MemoryTableClient:
        with self._lock:
            if table_name in self._tables:
                raise _failure(ResourceExistsError, 409, "TableAlreadyExists", "The table specified already exists.")
            self._tables[table_name] = {}
        return self.get_table_client(table_name)

    def delete_table(self, table_name: str) -> None:
        with self._lock:
            self._tables.pop(table_name, None)  # a table already gone is no error, as the SDK has it

    def list_tables(self) -> list[_TableItem]:
        with self._lock:
            return [_TableItem(name) for name in sorted(self._tables)]

    def _write(self, rows: dict[tuple[str, str], _Row], writes: list[tuple[Any, Any]]) -> list[_Row | None]:
        """Apply checked writes (wire form, or None to delete); each written row gets a new version."""
        written: list[_Row | None] = []
        for key, wire in writes:
            if wire is None:
                rows.pop(key, None)
                written.append(None)
                continue
            etag, timestamp = self._ticks.next()
            values = _convert_to_entity(wire)
            rows[key] = _Row(wire, values, etag, timestamp)
            written.append(rows[key])
        return written


# ------------------------------------------------------------------------------------------------
# Queues


@dataclass
class MemoryQueueMessage:
    """What `azure.storage.queue.QueueMessage` carries, as the app reads it."""

    id: str
    content: str
    inserted_on: datetime
    expires_on: datetime
    next_visible_on: datetime | None = None
    dequeue_count: int | None = None
    pop_receipt: str | None = None


@dataclass
class _Stored:
    id: str
    content: str
    inserted_on: datetime
    expires_on: datetime
    visible_at: float  # monotonic seconds
    dequeue_count: int = 0
    pop_receipt: str | None = None


@dataclass
class _QueueProperties:
    name: str
    approximate_message_count: int
    metadata: dict[str, str] = field(default_factory=dict)


class MemoryQueueClient:
    """The part of `azure.storage.queue.QueueClient` the app uses (text messages)."""

    def __init__(self, service: MemoryQueueService, queue_name: str) -> None:
        self._service = service
        self.queue_name = queue_name

    def _messages(self) -> list[_Stored]:
        messages = self._service._queues.get(self.queue_name)
        if messages is None:
            raise _not_found("The specified queue does not exist.", "QueueNotFound")
        return messages

    def _live(self) -> list[_Stored]:
        messages = self._messages()
        now = datetime.now(UTC)
        messages[:] = [m for m in messages if m.expires_on > now]
        return messages

    def create_queue(self) -> None:
        self._service.create_queue(self.queue_name)

    def send_message(
        self, content: str, *, visibility_timeout: int | None = None, time_to_live: int | None = None
    ) -> MemoryQueueMessage:
        if len(base64.b64encode(content.encode("utf-8"))) > MAX_MESSAGE_BYTES:
            raise _failure(HttpResponseError, 413, "RequestBodyTooLarge", "The request body is too large.")
        now = datetime.now(UTC)
        stored = _Stored(
            id=str(uuid.uuid4()),
            content=content,
            inserted_on=now.replace(microsecond=0),
            expires_on=(now + (timedelta(seconds=time_to_live) if time_to_live else MESSAGE_TTL)).replace(
                microsecond=0
            ),
            visible_at=time.monotonic() + (visibility_timeout or 0),
            pop_receipt=uuid.uuid4().hex,
        )
        with self._service._lock:
            self._messages().append(stored)
        answer = self._answer(stored)
        answer.dequeue_count = None  # as the service answers a put
        return answer

    def receive_messages(
        self,
        *,
        messages_per_page: int | None = None,
        visibility_timeout: int | None = None,
        max_messages: int | None = None,
        **_: Any,
    ) -> Iterator[MemoryQueueMessage]:
        """Every visible message (up to `max_messages`), oldest first, each hidden for `visibility_timeout`."""
        if max_messages is not None and messages_per_page is not None and max_messages < messages_per_page:
            raise ValueError("max_messages must be greater or equal to messages_per_page")  # as the SDK checks
        hidden_for = DEFAULT_VISIBILITY if visibility_timeout is None else visibility_timeout
        with self._service._lock:
            now = time.monotonic()
            taken: list[MemoryQueueMessage] = []
            for stored in sorted(self._live(), key=lambda m: m.visible_at):
                if max_messages is not None and len(taken) >= max_messages:
                    break
                if stored.visible_at <= now:
                    stored.dequeue_count += 1
                    stored.pop_receipt = uuid.uuid4().hex
                    stored.visible_at = now + hidden_for
                    taken.append(self._answer(stored))
        return iter(taken)

    def peek_messages(self, max_messages: int | None = None, **_: Any) -> list[MemoryQueueMessage]:
        if max_messages is not None and not 1 <= max_messages <= 32:
            raise ValueError("max_messages must be a positive integer not greater than 32")  # as the SDK checks
        with self._service._lock:
            now = time.monotonic()
            visible = [m for m in sorted(self._live(), key=lambda m: m.visible_at) if m.visible_at <= now]
            answers = [self._answer(m) for m in visible[: max_messages or 1]]
        for answer in answers:
            answer.pop_receipt = None
        return answers

    def delete_message(self, message: Any, pop_receipt: str | None = None, **_: Any) -> None:
        with self._service._lock:
            stored = self._held(message, pop_receipt)
            self._messages().remove(stored)

    def update_message(
        self,
        message: Any,
        pop_receipt: str | None = None,
        content: str | None = None,
        *,
        visibility_timeout: int | None = None,
        **_: Any,
    ) -> MemoryQueueMessage:
        with self._service._lock:
            stored = self._held(message, pop_receipt)
            if content is not None:
                stored.content = content
            stored.pop_receipt = uuid.uuid4().hex
            stored.visible_at = time.monotonic() + (visibility_timeout or 0)
            return self._answer(stored)

    def clear_messages(self, **_: Any) -> None:
        with self._service._lock:
            self._messages().clear()

    def get_queue_properties(self, **_: Any) -> _QueueProperties:
        with self._service._lock:
            return _QueueProperties(self.queue_name, len(self._live()))

    def _held(self, message: Any, pop_receipt: str | None) -> _Stored:
        """The message named by id, if the receipt is of its latest receive (or update): a stale receipt
        is refused with 400, a message gone with 404, as the service answers."""
        message_id = getattr(message, "id", message)
        receipt = pop_receipt or getattr(message, "pop_receipt", None)
        for stored in self._messages():
            if stored.id == message_id:
                if receipt is None or receipt != stored.pop_receipt:
                    raise _failure(HttpResponseError, 400, "PopReceiptMismatch", "The pop receipt did not match.")
                return stored
        raise _not_found("The specified message does not exist.", "MessageNotFound")

    @staticmethod
    def _answer(stored: _Stored) -> MemoryQueueMessage:
        visible = datetime.now(UTC) + timedelta(seconds=max(0.0, stored.visible_at - time.monotonic()))
        return MemoryQueueMessage(
            id=stored.id,
            content=stored.content,
            inserted_on=stored.inserted_on,
            expires_on=stored.expires_on,
            next_visible_on=visible.replace(microsecond=0),
            dequeue_count=stored.dequeue_count,
            pop_receipt=stored.pop_receipt,
        )


@dataclass
class _QueueItem:
    name: str


class MemoryQueueService:
    """The part of `QueueServiceClient` the app uses; holds every queue's messages."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._queues: dict[str, list[_Stored]] = {}

    def get_queue_client(self, queue: str, **_: Any) -> MemoryQueueClient:
        """Encode and decode policies are accepted and have nothing to do: messages stay text here."""
        return MemoryQueueClient(self, queue)

    def create_queue(self, name: str, **_: Any) -> MemoryQueueClient:
        with self._lock:
            if name in self._queues:
                raise _failure(ResourceExistsError, 409, "QueueAlreadyExists", "The specified queue already exists.")
            self._queues[name] = []
        return self.get_queue_client(name)

    def delete_queue(self, queue: Any, **_: Any) -> None:
        with self._lock:
            if self._queues.pop(getattr(queue, "name", queue), None) is None:
                raise _not_found("The specified queue does not exist.", "QueueNotFound")

    def list_queues(self, **_: Any) -> list[_QueueItem]:
        with self._lock:
            return [_QueueItem(name) for name in sorted(self._queues)]


# ------------------------------------------------------------------------------------------------
# The account


class MemoryAccount(StorageAccount):
    """A storage account in this process: `table()`, `queue()`, `enqueue`, `ensure_resources` and the
    rest are `StorageAccount`'s own code, over in-memory services. One lock serialises every call, as
    one storage service answers every caller; share one account between threads freely."""

    def __init__(self) -> None:
        super().__init__(account_name="memory")  # never reached: the services below replace the SDK's
        lock = threading.RLock()
        self._memory_tables = MemoryTableService(lock)
        self._memory_queues = MemoryQueueService(lock)

    def table_service(self) -> Any:
        return self._memory_tables

    def queue_service(self) -> Any:
        return self._memory_queues
