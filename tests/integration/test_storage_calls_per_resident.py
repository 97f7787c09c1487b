"""A verification's storage calls, counted on the wire (issue 22 item 2: each is about 2.5 ms of CPU).

The installation is in its steady state (the one-off rekey pass has run), as after its first daily
retention run. Every request the storage SDKs send is counted with azure-core's raw_request_hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from shared.adapters.sms.local import LocalOutboxSender
from shared.adapters.storage import StorageAccount
from shared.composition import Services, build_services
from shared.core.validation import ValidInterest
from shared.settings import Settings
from tests.conftest import fresh_tables, municipality

pytestmark = pytest.mark.azurite  # counts the HTTP requests the storage SDK sends


class Wire:
    """(method, path) of every request sent; the path without the account and the query string."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def __call__(self, request: Any) -> None:
        http = request.http_request
        path = http.url.split("devstoreaccount1", 1)[-1].split("?", 1)[0]
        self.sent.append((http.method, path))


def counted(make_settings: Callable[..., Settings], outbox: LocalOutboxSender, wire: Wire) -> Services:
    settings = make_settings()
    storage = StorageAccount(
        connection_string=settings.storage_connection_string, client_options={"raw_request_hook": wire}
    )
    services = build_services(settings, sender=outbox, storage=storage)
    fresh_tables(services)
    services.rekey.migrate_phone_keys()
    return services


def register(services: Services, outbox: LocalOutboxSender, phone: str, theme: str, area: str) -> tuple[str, str]:
    interest = ValidInterest(theme=theme, name="Anna", phone=phone, locale="sv", area=area)
    registration = services.intake.register(interest, client_address="192.0.2.7")
    [*_, last] = [m for m in outbox.messages() if m.to == phone]
    code = re.search(r"\d{6}", last.body)
    assert code is not None
    return registration.interest_id, code.group(0)


def test_a_verification_reads_the_attempt_and_the_queue_in_one_query(
    make_settings: Callable[..., Settings], outbox: LocalOutboxSender
) -> None:
    wire = Wire()
    services = counted(make_settings, outbox, wire)
    organisation = municipality("region-jonkoping")["organisation"]
    theme, area = organisation["themes"][0]["id"], organisation["areas"][0]["id"]
    smallest = organisation["group_size"]["min"]
    for n in range(2):  # two people wait in the bucket already
        interest_id, code = register(services, outbox, f"+4670174060{n}", theme, area)
        services.intake.verify(interest_id, code)
    interest_id, code = register(services, outbox, "+46701740609", theme, area)
    wire.sent.clear()

    verified = services.intake.verify(interest_id, code)

    # The answer counts the person and the two before them, as a read after the commit did.
    assert verified.needed == smallest - 3 and verified.joining is False
    # One query (the attempt and the theme's queue), the transaction, the formation request: three
    # calls, where a point read of the attempt and a query of the queue after the commit made four.
    assert [method for method, _ in wire.sent] == ["GET", "POST", "POST"], wire.sent
    assert wire.sent[0][1] == "/interests()" and wire.sent[1][1] == "/$batch"
    assert wire.sent[2][1] == "/formation-requests/messages"


def reads_of_interests(wire: Wire) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The interests table's requests on the wire, its point reads and its queries."""
    on_interests = [(method, path) for method, path in wire.sent if path.startswith("/interests")]
    point_reads = [path for method, path in on_interests if method == "GET" and path != "/interests()"]
    queries = [path for method, path in on_interests if method == "GET" and path == "/interests()"]
    return on_interests, point_reads, queries


def test_a_roster_reads_the_groups_members_in_one_query(
    make_settings: Callable[..., Settings], outbox: LocalOutboxSender
) -> None:
    from shared.core.domain import MessageKind
    from tests.support.tables import THEME, add_facilitator, interests, seed_waiting
    from tests.support.tables import outbox as outbox_rows

    wire = Wire()
    services = counted(make_settings, outbox, wire)
    add_facilitator(services, name="Eva Lind")
    seed_waiting(services, 6)
    services.formation.form_theme(THEME)
    [roster] = [m for m in outbox_rows(services) if m.kind is MessageKind.ROSTER]
    members = interests(services)
    assert len(members) == 6
    wire.sent.clear()

    outcome = services.notifier.send(THEME, roster.key)

    assert outcome.sent is True
    [text] = [m for m in outbox.messages() if m.to == "+46701740610"]
    assert all(f"{m.name} {m.phone}" in text.body for m in members)  # the roster names all six
    on_interests, point_reads, queries = reads_of_interests(wire)
    # The outbox row and the group by key, the six members in one query: three reads where the
    # members' point reads made eight.
    assert len(point_reads) == 2, on_interests
    assert len(queries) == 1, on_interests


def test_an_invitation_reads_the_group_and_the_member_in_one_query(
    make_settings: Callable[..., Settings], outbox: LocalOutboxSender
) -> None:
    from shared.core.domain import MessageKind
    from tests.support.tables import THEME, add_facilitator, interests, seed_waiting
    from tests.support.tables import outbox as outbox_rows

    wire = Wire()
    services = counted(make_settings, outbox, wire)
    add_facilitator(services, name="Eva Lind")
    seed_waiting(services, 5)
    services.formation.form_theme(THEME)
    invitation = next(m for m in outbox_rows(services) if m.kind is MessageKind.INVITATION)
    [member] = [i for i in interests(services) if i.key == invitation.recipient_id]
    wire.sent.clear()

    outcome = services.notifier.send(THEME, invitation.key)

    assert outcome.sent is True
    [text] = [m for m in outbox.messages() if m.to == member.phone]
    assert text.body.startswith(f"Hej {member.name}!") and "Eva" in text.body
    on_interests, point_reads, queries = reads_of_interests(wire)
    # The outbox row by key, then the group and the member in one query: two reads where there were three.
    assert len(point_reads) == 1, on_interests
    assert len(queries) == 1, on_interests


def test_a_new_numbers_counter_is_created_without_a_read_first(
    make_settings: Callable[..., Settings], outbox: LocalOutboxSender
) -> None:
    wire = Wire()
    services = counted(make_settings, outbox, wire)
    organisation = municipality("region-jonkoping")["organisation"]
    theme, area = organisation["themes"][0]["id"], organisation["areas"][0]["id"]
    for n in range(2):  # the client's counters, the send rate and the budget are known to this process now
        register(services, outbox, f"+4670174060{n}", theme, area)
    wire.sent.clear()

    register(services, outbox, "+46701740609", theme, area)

    on_counters = [(method, path) for method, path in wire.sent if path.startswith("/ratelimits")]
    # The number's counter: one create (a POST to the table), where a read that found nothing came first.
    assert [call for call in on_counters if call == ("POST", "/ratelimits")] == [("POST", "/ratelimits")]
    assert [method for method, _ in on_counters if method == "GET"] == [], on_counters
    # The address and its network, the send rate and the budget on their remembered versions (four PUTs).
    assert sorted(method for method, _ in on_counters) == ["POST", "PUT", "PUT", "PUT", "PUT"], on_counters
    # With the attempt's transaction and the provider-copy row: seven calls where there were eight.
    assert len(wire.sent) == 7, wire.sent
