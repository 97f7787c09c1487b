"""A group's life as the schemes describe it (issue 12.1, 11.6), against Azurite and through the real
twilio SDK to the loopback Twilio server, on an injected clock: the fifth recorded meeting hands the
group over and each member gets the handover text; nothing closes a group by time; a person closing it
tells the members; a group stuck before active is escalated once and, three years on, nothing personal
is left of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from shared.adapters.sms.twilio import TwilioSender
from shared.adapters.storage import NOTIFICATIONS
from shared.composition import Services
from shared.core.domain import GroupStatus, MessageKind, utcnow
from shared.core.group_life import format_day
from shared.core.local_time import organisation_tz
from shared.services.lifecycle import Lifecycle
from shared.services.notify import Notifier
from shared.services.operations import Operations
from shared.services.operations_base import OperationError
from tests.support.privacy import number_needles, traces
from tests.support.tables import THEME, add_facilitator, groups, outbox, seed_waiting
from tests.support.twilio_server import LoopbackTwilio

FACILITATOR_PHONE = "+46701740610"
PEOPLE = [(f"Person {i}", f"+4670{1000000 + i:07d}") for i in range(5)]  # as seed_waiting writes them


class Clock:
    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self):
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class World:
    services: Services
    twilio: LoopbackTwilio
    clock: Clock
    operations: Operations
    lifecycle: Lifecycle
    notifier: Notifier

    def deliver(self) -> list[tuple[str, str]]:
        """Send what is queued through the notifier (the real SDK to the loopback server): (to, body)."""
        queue = self.services.storage.queue(NOTIFICATIONS)
        before = len(self.twilio.accepted)
        while batch := list(queue.receive_messages(messages_per_page=32, max_messages=32)):
            for message in batch:
                self.notifier.handle(message.content)
                queue.delete_message(message)
        return [(m.to, m.body) for m in self.twilio.accepted[before:]]

    def form(self, *, with_facilitator: bool = True) -> str:
        if with_facilitator:
            add_facilitator(self.services)
        seed_waiting(self.services, 5)
        self.services.formation.form_theme(THEME)
        [group] = groups(self.services)
        return group.id


@pytest.fixture
def world(make_services, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with LoopbackTwilio() as twilio:
        sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)
        clock = Clock()
        # As production wires it (shared/composition.py, the settings' defaults: 5 meetings, 90 days on its
        # own, 30 after closing), every service and adapter on the test's clock.
        services = make_services(sender=sender, clock=clock)
        yield World(
            services=services,
            twilio=twilio,
            clock=clock,
            operations=services.operations,
            lifecycle=services.lifecycle,
            notifier=services.notifier,
        )


def start(world: World) -> str:
    group_id = world.form()
    world.deliver()  # invitations and roster
    world.operations.set_first_meeting(group_id, world.clock() + timedelta(days=2), "Folkets hus, rum 3")
    world.deliver()
    return group_id


def nothing_personal_left(world: World) -> None:
    for name, phone in PEOPLE:
        assert traces(world.services, number_needles(phone) | {name}) == [], name


def test_the_fifth_recorded_meeting_hands_over_each_member_is_told_and_nobody_closes_the_group(world):
    services, clock = world.services, world.clock
    group_id = start(world)
    coordinator = services.organisation.coordinator
    assert coordinator is not None and coordinator.phone

    clock.advance(days=1)
    with pytest.raises(OperationError) as early:
        world.operations.record_meeting(group_id)  # before the first meeting: nothing was held yet
    assert early.value.detail == "not_started"
    for week in range(4):
        clock.advance(days=2 if week == 0 else 7)
        assert world.operations.record_meeting(group_id).status == GroupStatus.ACTIVE.value
    assert world.deliver() == []  # four meetings: nothing to tell yet
    # Calendar weeks alone move nothing: a lifecycle run months on leaves the group active.
    assert world.lifecycle.advance().on_its_own == 0

    clock.advance(days=7)
    view = world.operations.record_meeting(group_id)
    handed_over_at = clock()
    assert view.status == GroupStatus.ON_ITS_OWN.value
    texts = world.deliver()
    assert sorted(to for to, _ in texts) == sorted(phone for _, phone in PEOPLE)
    leave = format_day(handed_over_at + timedelta(days=90), "sv", organisation_tz(services.organisation))
    for to, body in texts:
        name = next(n for n, p in PEOPLE if p == to)
        assert body.startswith(f"Hej {name}! Det här är Region Jönköpings län. Din grupp fortsätter nu på egen hand")
        # Issue 20: the region's igångsättare keeps in touch with the group and supports it when needed.
        assert "finns kvar som kontakt om gruppen behöver stöd" in body, body
        assert coordinator.name in body and coordinator.phone in body and leave in body
        assert "STOPP" in body
        assert services.organisation.theme_text(THEME, "sv").phrase not in body[:80]
    [group] = groups(services)
    assert (group.meetings_held, group.on_its_own_at) == (5, handed_over_at)
    assert group.members_leave_at == handed_over_at + timedelta(days=90)
    with pytest.raises(OperationError):
        world.operations.record_meeting(group_id)  # the facilitator period is over

    # No timer closes it: daily runs for three years leave it on its own, texts nobody.
    clock.advance(days=89)
    report = world.lifecycle.run()
    assert report.retention is not None and report.retention.members_erased == 0
    clock.advance(days=1)
    report = world.lifecycle.run()  # the date the members were given: their names and numbers go
    assert report.retention is not None and report.retention.members_erased == 5
    for _ in range(36):
        clock.advance(days=30)
        world.lifecycle.run()
    [group] = groups(services)
    assert group.status is GroupStatus.ON_ITS_OWN and group.closed_at is None
    assert group.members_erased == 5 and group.member_keys == () and group.meetings_held == 5
    kinds = [to for to, _ in world.deliver()]
    assert all(to == FACILITATOR_PHONE for to in kinds)  # at most the facilitator's check-in
    nothing_personal_left(world)


def test_the_facilitator_may_hand_over_early_and_a_closed_group_tells_its_members(world):
    services, clock = world.services, world.clock
    group_id = start(world)
    clock.advance(days=3)
    world.operations.record_meeting(group_id)
    world.operations.hand_over(group_id)
    handover = world.deliver()
    assert len(handover) == 5 and all("på egen hand" in body for _, body in handover)

    clock.advance(days=10)
    closed_at = clock()
    assert world.operations.close_group(group_id).status == GroupStatus.CLOSED.value
    texts = world.deliver()
    assert sorted(to for to, _ in texts) == sorted(phone for _, phone in PEOPLE)
    # Closing promises no later date than the handover did: 30 days after closing, before day 90.
    leave = format_day(closed_at + timedelta(days=30), "sv", organisation_tz(services.organisation))
    for _to, body in texts:
        assert "har avslutats" in body and leave in body, body
    assert world.operations.close_group(group_id).status == GroupStatus.CLOSED.value  # again: nothing
    assert world.deliver() == []
    assert {m.kind for m in outbox(services)} >= {MessageKind.GROUP_CLOSED, MessageKind.HANDOVER}

    clock.advance(days=30)
    report = world.lifecycle.run()
    assert report.retention is not None and report.retention.members_erased == 5
    nothing_personal_left(world)


def test_an_operator_closing_a_forming_group_tells_the_invited_members(world):
    group_id = world.form()
    world.deliver()
    world.operations.close_group(group_id)
    texts = world.deliver()
    assert len(texts) == 5 and all("har avslutats" in body for _, body in texts)


def test_a_group_stuck_without_a_facilitator_is_escalated_once_and_aged_three_years_leaves_nothing(world):
    services, clock = world.services, world.clock
    world.form(with_facilitator=False)
    world.deliver()  # the formation's own "awaiting a facilitator" alert
    [group] = groups(services)
    assert group.status is GroupStatus.AWAITING_FACILITATOR

    clock.advance(days=20)
    assert world.lifecycle.run().escalated == 0
    clock.advance(days=1, minutes=5)  # formation ran on the real clock, a moment after ours started
    assert world.lifecycle.run().escalated == 1
    [(to, body)] = world.deliver()
    assert to == services.organisation.coordinator_phone and "inte kommit igång" in body
    assert "Person" not in body and "+4670" not in body
    clock.advance(days=1)
    assert world.lifecycle.run().escalated == 0  # once
    assert world.deliver() == []

    for _ in range(36):  # three years of monthly runs
        clock.advance(days=30)
        world.lifecycle.run()
    [group] = groups(services)
    assert group.status is GroupStatus.CLOSED and group.members_erased == 5 and group.member_keys == ()
    assert outbox(services) == []
    nothing_personal_left(world)


# --- issue 19.5: no group is kept forever because its facilitator stopped recording meetings ----------


def coordinator_texts(world: World, texts: list[tuple[str, str]]) -> list[str]:
    return [body for to, body in texts if to == world.services.organisation.coordinator_phone]


def test_an_active_group_nobody_records_is_reported_once_then_handed_over_and_aged_leaves_nothing(world):
    services, clock = world.services, world.clock
    tz = organisation_tz(services.organisation)
    group_id = start(world)  # first meeting in two days
    clock.advance(days=3)
    world.operations.record_meeting(group_id)
    last_meeting = clock()

    # Eight weeks without a recorded meeting (the default QUIET_GROUP_WEEKS): nothing before…
    clock.advance(weeks=8, minutes=-5)
    assert world.lifecycle.run().quiet_reported == 0
    assert coordinator_texts(world, world.deliver()) == []  # the facilitator's check-in may go, nothing else
    # … the coordinator is told on the day, once, with the date the group will be handed over.
    clock.advance(minutes=5)
    assert clock() == last_meeting + timedelta(weeks=8)
    reported = world.lifecycle.run()
    assert (reported.quiet_reported, reported.quiet_handed_over) == (1, 0)
    [body] = coordinator_texts(world, world.deliver())
    handover_day = format_day(clock() + timedelta(weeks=4), "sv", tz)
    assert "inte registrerat någon träff på 8 veckor" in body and handover_day in body, body
    assert "Person" not in body and "+4670" not in body  # no member named
    [group] = groups(services)
    assert group.status is GroupStatus.ACTIVE and group.quiet_handover_at == clock() + timedelta(weeks=4)
    for _ in range(27):  # daily runs until the day before the handover: nothing more
        clock.advance(days=1)
        again = world.lifecycle.run()
        assert (again.quiet_reported, again.quiet_handed_over) == (0, 0)
    assert world.deliver() == []
    assert groups(services)[0].status is GroupStatus.ACTIVE

    # Still silent on the date the coordinator was given: handed over, every member told their leave date.
    clock.advance(days=1)
    handed = world.lifecycle.run()
    assert (handed.quiet_reported, handed.quiet_handed_over) == (0, 1)
    handed_over_at = clock()
    texts = world.deliver()
    assert sorted(to for to, _ in texts) == sorted(phone for _, phone in PEOPLE)
    leave = format_day(handed_over_at + timedelta(days=90), "sv", tz)
    assert all("på egen hand" in body and leave in body for _, body in texts), texts
    [group] = groups(services)
    assert group.status is GroupStatus.ON_ITS_OWN and group.members_leave_at == handed_over_at + timedelta(days=90)

    # Then the erasure clock of a group on its own: kept until the date the members were given, gone after.
    clock.advance(days=89)
    report = world.lifecycle.run()
    assert report.retention is not None and report.retention.members_erased == 0
    clock.advance(days=1)
    report = world.lifecycle.run()
    assert report.retention is not None and report.retention.members_erased == 5
    [group] = groups(services)
    assert group.member_keys == () and group.members_erased == 5 and group.meeting_place == ""
    assert outbox(services) == []
    nothing_personal_left(world)


def test_a_meeting_recorded_after_the_report_keeps_the_group_and_a_new_silence_is_reported_again(world):
    services, clock = world.services, world.clock
    group_id = start(world)
    clock.advance(days=3)
    world.operations.record_meeting(group_id)
    clock.advance(weeks=8)
    assert world.lifecycle.run().quiet_reported == 1
    world.deliver()

    clock.advance(weeks=1)
    world.operations.record_meeting(group_id)  # the facilitator is back
    met = clock()
    clock.advance(weeks=3, days=1)  # past the date the coordinator was given
    report = world.lifecycle.run()
    assert (report.quiet_reported, report.quiet_handed_over) == (0, 0)
    assert coordinator_texts(world, world.deliver()) == []
    [group] = groups(services)
    assert group.status is GroupStatus.ACTIVE and group.last_meeting_at == met

    clock.advance(weeks=5, days=-1)  # eight weeks after the meeting the facilitator recorded
    assert world.lifecycle.run().quiet_reported == 1
    assert len(coordinator_texts(world, world.deliver())) == 1


def test_a_group_whose_first_meeting_lies_ahead_is_not_quiet(world):
    group_id = world.form()
    world.deliver()
    world.operations.set_first_meeting(group_id, world.clock() + timedelta(days=70), "Biblioteket")
    world.deliver()
    world.clock.advance(weeks=9)  # eight weeks since the meeting was set, but it has not been held yet
    assert world.lifecycle.run().quiet_reported == 0
    world.clock.advance(days=70 - 63 + 8 * 7)
    assert world.lifecycle.run().quiet_reported == 1
