"""Retention and the lifecycle timer against Azurite with a fake clock: what is erased when, that a scan of
every table and queue finds no trace of an erased person afterwards, and that the statistics survive."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.migrations import MIGRATED
from shared.adapters.sms.send_rate import PARTITION as SEND_RATE
from shared.adapters.storage import AUDIT, INTERESTS, NOTIFICATIONS, RATE_LIMITS
from shared.composition import Services
from shared.core.domain import GroupStatus, InterestStatus, MessageKind, MessageStatus, utcnow
from shared.core.local_time import organisation_tz
from shared.core.validation import ValidInterest
from shared.services.facilitators import FacilitatorIn
from shared.services.formation import FormationService
from shared.services.intake import IntakeService
from shared.services.lifecycle import Lifecycle
from shared.services.notify import Notifier
from shared.services.operations import Operations
from shared.services.retention import Retention
from shared.services.sms_budget import BUDGET_KEY, TEXTS_KEY
from shared.services.statistics import Statistics
from tests.support.privacy import csv_rows, number_needles, traces
from tests.support.tables import groups, outbox, rows

THEME = "stress"
LIVE_THEME = "sjukdom"  # a group that keeps running while the other closes
WAIT_THEME = "anhorig"  # too few to form a group


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        assert when >= self.now, "time only moves forward"
        self.now = when


@dataclass
class World:
    services: Services
    clock: Clock
    intake: IntakeService
    formation: FormationService
    operations: Operations
    retention: Retention
    lifecycle: Lifecycle
    notifier: Notifier
    statistics: Statistics

    def register(self, theme: str, name: str, phone: str, *, verify: bool = True) -> str:
        reg = self.intake.register(
            ValidInterest(theme=theme, name=name, phone=phone, locale="sv", area="habo"), client_address="203.0.113.5"
        )
        if verify:
            code = self.services.sender.messages()[-1].body.split()[0]  # type: ignore[attr-defined]
            self.intake.verify(reg.interest_id, code)
        return reg.interest_id

    def deliver(self) -> list[tuple[str, str]]:
        """Send what is queued through a notifier on the same clock; (to, body) of each text sent."""
        queue = self.services.storage.queue(NOTIFICATIONS)
        before = len(self.services.sender.messages())  # type: ignore[attr-defined]
        while batch := list(queue.receive_messages(messages_per_page=32, max_messages=32)):
            for message in batch:
                self.notifier.handle(message.content)
                queue.delete_message(message)
        return [(m.to, m.body) for m in self.services.sender.messages()[before:]]  # type: ignore[attr-defined]


@pytest.fixture
def world(make_services) -> Iterator[World]:
    # Wired as production wires it (shared/composition.py), every service and adapter on the one clock.
    clock = Clock(utcnow().replace(microsecond=0))
    services = make_services(clock=clock, CLIENT_REGISTRATIONS_PER_HOUR="1000")
    yield World(
        services=services,
        clock=clock,
        intake=services.intake,
        formation=services.formation,
        operations=services.operations,
        retention=services.retention,
        lifecycle=services.lifecycle,
        notifier=services.notifier,
        statistics=services.statistics,
    )


def add_facilitator(world: World, name: str = "Eva Lind", phone: str = "+46701740611"):
    return world.services.facilitators.create(FacilitatorIn(name=name, phone=phone, locales=["sv"], capacity=5))


def person(theme: str, i: int) -> tuple[str, str]:
    """Names and numbers easy to search for, distinct per theme."""
    offset = {THEME: 100, LIVE_THEME: 200, WAIT_THEME: 300}[theme]
    return f"Medlem Nummer{offset + i}", f"+46735510{offset + i:03d}"


def form(world: World, theme: str) -> str:
    for i in range(5):
        world.register(theme, *person(theme, i))
    world.formation.form_theme(theme)
    [group] = groups(world.services, theme)
    return group.id


def erased_completely(world: World, people: list[tuple[str, str]]) -> None:
    for name, phone in people:
        assert traces(world.services, number_needles(phone) | {name}) == [], name


def kept(world: World, people: list[tuple[str, str]]) -> None:
    """The scan does find people who should still be there (the scan itself works)."""
    for name, phone in people:
        assert traces(world.services, {phone, name}), name


def retention_keeps_the_statistics(world: World):
    before = world.statistics.csv()
    report = world.retention.run()
    assert world.statistics.csv() == before, "aggregate counts changed with erasure"
    return report


def test_retention_erases_each_kind_of_data_on_time_and_leaves_no_trace(world):
    services, clock = world.services, world.clock
    t0 = clock()
    add_facilitator(world)
    closing = form(world, THEME)
    live = form(world, LIVE_THEME)
    wanda = person(WAIT_THEME, 0)
    ulla = person(WAIT_THEME, 1)
    world.register(WAIT_THEME, *wanda)  # verified, never grouped
    world.register(WAIT_THEME, *ulla, verify=False)  # never confirmed her number
    world.deliver()
    assert services.storage.table(RATE_LIMITS).list_entities().next()  # counters exist
    world.operations.set_first_meeting(closing, t0 + timedelta(days=3), "Folkets hus, rum 3")
    world.operations.set_first_meeting(live, t0 + timedelta(days=3), "Biblioteket")  # active: it runs on
    world.deliver()

    # A day after her code expired, the unconfirmed registration goes; so do expired counters: the
    # address's hourly ones first, the numbers' (an hour and a day, issue 19.6) a day and a slot on.
    clock.set(t0 + timedelta(days=1, minutes=5))
    report = retention_keeps_the_statistics(world)
    assert report.unverified_erased == 0 and report.rate_limit_rows_erased >= 2  # the address and its /24
    clock.set(t0 + timedelta(days=1, minutes=25))  # a slot of the daily window is 24 minutes
    report = retention_keeps_the_statistics(world)
    assert report.unverified_erased == 1 and report.markers_erased == 1
    erased_completely(world, [ulla])
    kept(world, [wanda])
    # Only rows about the installation are left (its SMS budget, its send rate, the key migration's
    # done-mark), naming nobody.
    left = {r["PartitionKey"] for r in services.storage.table(RATE_LIMITS).list_entities()}
    assert left <= {BUDGET_KEY, TEXTS_KEY, SEND_RATE, MIGRATED[0]}

    # 30 days after closing, the closed group's people go; the group row keeps counts, not people.
    clock.set(t0 + timedelta(days=10))
    world.operations.close_group(closing)
    clock.set(t0 + timedelta(days=39))
    assert retention_keeps_the_statistics(world).members_erased == 0
    clock.set(t0 + timedelta(days=40))
    report = retention_keeps_the_statistics(world)
    assert (report.groups_erased, report.members_erased, report.markers_erased) == (1, 5, 5)
    [group] = groups(services, THEME)
    assert group.status is GroupStatus.CLOSED and group.member_keys == () and group.members_erased == 5
    assert group.meeting_place == "" and group.first_meeting_at is not None and group.members_erased_at == clock()
    assert outbox(services, THEME) == []  # the texts about and to them went with them
    erased_completely(world, [person(THEME, i) for i in range(5)])
    kept(world, [wanda, *[person(LIVE_THEME, i) for i in range(5)]])

    # Someone registering later is kept for their own 180 days.
    clock.set(t0 + timedelta(days=100))
    lars = person(WAIT_THEME, 2)
    world.register(WAIT_THEME, *lars)

    # 180 days on: never grouped, she goes; the running group's people stay, its old texts go.
    clock.set(t0 + timedelta(days=180))
    report = retention_keeps_the_statistics(world)
    # 5 invitations, the roster and 5 meeting texts of the live group
    assert report.never_grouped_erased == 1 and report.outbox_rows_erased == 11
    erased_completely(world, [wanda])
    kept(world, [lars, *[person(LIVE_THEME, i) for i in range(5)]])
    assert outbox(services, LIVE_THEME) == []
    live = [r for r in rows(services, LIVE_THEME) if r.get("Kind") == "interest"]
    assert len(live) == 5 and {r["Status"] for r in live} == {InterestStatus.GROUPED.value}

    # Nothing more is due: a second run erases nothing.
    assert retention_keeps_the_statistics(world).rows_erased == 0

    # The counts survived every erasure.
    stats = {(r["theme"], r["month"]): r for r in csv_rows(world.statistics.csv())}
    month = t0.astimezone(organisation_tz(services.organisation)).strftime("%Y-%m")
    assert stats[(THEME, month)]["registrations"] == "5" and stats[(THEME, month)]["groups_formed"] == "1"
    assert stats[(WAIT_THEME, month)]["registrations"] == "2" and stats[(WAIT_THEME, month)]["verified"] == "1"
    # Each run left an audit row with counts only.
    audit = [r for r in services.storage.table(AUDIT).list_entities() if r.get("Action") == "retention"]
    assert len(audit) == 6 and sum(r["Count"] for r in audit) > 0


def test_an_erased_group_member_keeps_the_time_it_took_to_form_in_the_statistics(world):
    clock = world.clock
    t0 = clock()
    add_facilitator(world)
    for i in range(4):
        world.register(THEME, *person(THEME, i))
    clock.set(t0 + timedelta(days=3, hours=1))  # the fifth arrives three days later: the group forms
    world.register(THEME, *person(THEME, 4))
    world.formation.form_theme(THEME)
    [group] = groups(world.services, THEME)
    before = csv_rows(world.statistics.csv())
    assert [r["median_days_to_group"] for r in before if r["theme"] == THEME] == ["3"]  # 4 waited 3 days, 1 none
    world.operations.close_group(group.id)
    clock.set(clock() + timedelta(days=31))
    world.retention.run()
    assert csv_rows(world.statistics.csv()) == before
    stats_rows = [r for r in rows(world.services) if r.get("Kind") == "stats"]
    assert len(stats_rows) == 1 and stats_rows[0]["Registrations"] == 5
    assert all("Medlem" not in str(v) and "+46" not in str(v) for r in stats_rows for v in r.values())


def test_the_lifecycle_reminds_hands_over_checks_in_each_once_and_never_closes(world):
    services, clock = world.services, world.clock
    tz = organisation_tz(services.organisation)
    add_facilitator(world)
    group_id = form(world, THEME)
    world.deliver()
    local_day = (clock() + timedelta(days=6)).astimezone(tz).date()
    first = datetime(local_day.year, local_day.month, local_day.day, 18, tzinfo=tz).astimezone(UTC)
    world.operations.set_first_meeting(group_id, first, "Folkets hus")
    world.deliver()

    def run_at(when: datetime) -> Counter[str]:
        clock.set(when)
        report = world.lifecycle.run()
        return Counter(
            {
                "reminders": report.reminders,
                "on_its_own": report.on_its_own,
                "check_ins": report.check_ins,
                "escalated": report.escalated,
            }
        )

    def morning(days_from_first: int) -> datetime:
        day = first.astimezone(tz).date() + timedelta(days=days_from_first)
        return datetime(day.year, day.month, day.day, 7, tzinfo=tz).astimezone(UTC)

    assert +run_at(morning(-2)) == Counter()
    assert +run_at(morning(-1)) == Counter(reminders=1)
    assert +run_at(morning(-1) + timedelta(hours=2)) == Counter()  # once
    texts = world.deliver()
    assert len(texts) == 5 and all(body.startswith("Hej Medlem") and "Glöm inte" in body for _to, body in texts)
    assert all("kl. 18.00" in body and "Folkets hus" in body for _to, body in texts)

    # The facilitator records each weekly meeting the morning after; the fifth hands the group over.
    for week in range(5):
        clock.set(morning(1 + 7 * week))
        world.operations.record_meeting(group_id)
        assert +run_at(morning(1 + 7 * week)) == Counter()
    assert groups(services)[0].status is GroupStatus.ON_ITS_OWN
    texts = world.deliver()
    assert len(texts) == 5 and all("på egen hand" in body for _to, body in texts)
    assert +run_at(morning(50)) == Counter(check_ins=1)
    assert +run_at(morning(51)) == Counter()
    [(to, body)] = world.deliver()
    assert to == "+46701740611" and "7 veckor" in body and services.organisation.coordinator_phone in body
    assert "Medlem" not in body  # a check-in names no member
    kinds = Counter(m.kind for m in outbox(services) if m.status is MessageStatus.SENT)
    assert kinds[MessageKind.MEETING_REMINDER] == 5 and kinds[MessageKind.FACILITATOR_CHECK_IN] == 1
    assert kinds[MessageKind.HANDOVER] == 5

    # Never closed by the timer; the members' names and numbers go on the date their handover gave.
    [group] = groups(services)
    assert group.members_leave_at is not None
    assert +run_at(group.members_leave_at - timedelta(minutes=1)) == Counter()
    assert groups(services)[0].members_erased == 0
    clock.set(group.members_leave_at)
    report = world.lifecycle.run()
    assert report.retention is not None and report.retention.members_erased == 5
    [group] = groups(services)
    assert group.status is GroupStatus.ON_ITS_OWN and group.closed_at is None and group.members_erased == 5
    erased_completely(world, [person(THEME, i) for i in range(5)])
    assert +run_at(morning(3 * 365)) == Counter()
    assert groups(services)[0].status is GroupStatus.ON_ITS_OWN


def test_retention_only_takes_rows_still_as_it_read_them(world):
    """A waiting person claimed into a group between the read and the erasure is not erased."""
    services, clock = world.services, world.clock
    t0 = clock()
    add_facilitator(world)
    for i in range(4):
        world.register(THEME, *person(THEME, i))
    clock.set(t0 + timedelta(days=181))
    world.register(THEME, *person(THEME, 4))

    real_erase = world.retention._erase_partition

    def form_first(rows, partition, now, report):
        if partition.theme == THEME:
            world.formation.form_theme(THEME)  # the claim lands after the read
        real_erase(rows, partition, now, report)

    world.retention._erase_partition = form_first  # type: ignore[method-assign]
    report = world.retention.run()
    assert report.retries >= 1 and report.never_grouped_erased == 0
    [group] = groups(services, THEME)
    assert len(group.member_keys) == 5
    live = [r for r in rows(services, THEME) if r.get("Kind") == "interest"]
    assert len(live) == 5
    assert services.storage.table(INTERESTS).get_entity(THEME, group.key)["MemberCount"] == 5
