"""Group formation against Azurite: thresholds, joins, races, crash safety, awaiting facilitators."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from shared.adapters.entities import interest_from
from shared.core.domain import (
    GroupStatus,
    InterestStatus,
    MessageKind,
)
from shared.services.formation import FormationService
from shared.services.outbox import parse_queue_message
from tests.conftest import municipality
from tests.support.tables import (
    THEME,
    Clock,
    add_facilitator,
    drain,
    groups,
    outbox,
    rows,
    seed_waiting,
    verified,
)
from tests.support.wiring import rewired


def test_five_verified_form_one_group_with_a_facilitator_and_six_messages(services):
    facilitator = add_facilitator(services)
    verified(services, 5)

    report = services.formation.form_theme(THEME)

    assert report.groups_formed == 1
    [group] = groups(services)
    assert group.status is GroupStatus.FORMING
    assert group.facilitator_id == facilitator.id
    assert len(group.member_keys) == 5
    messages = outbox(services)
    assert Counter(m.kind for m in messages) == {MessageKind.INVITATION: 5, MessageKind.ROSTER: 1}
    assert {m.recipient_id for m in messages if m.kind is MessageKind.INVITATION} == set(group.member_keys)
    # One queue message for the group's six texts (shared/services/outbox.py).
    [queued] = [parse_queue_message(text) for text in drain(services)]
    assert queued.theme == THEME and sorted(queued.rows) == sorted(m.key for m in messages)
    members = [interest_from(r) for r in rows(services) if r["RowKey"] in group.member_keys]
    assert all(m.status is InterestStatus.GROUPED and m.group_id == group.key for m in members)


def test_four_verified_wait(services):
    add_facilitator(services)
    verified(services, 4)
    report = services.formation.form_theme(THEME)
    assert report.groups_formed == 0
    assert groups(services) == []
    assert services.intake.needed(THEME) == 1


def test_a_sixth_joins_the_open_group_with_one_invitation_and_one_update(services):
    add_facilitator(services)
    verified(services, 5)
    services.formation.form_theme(THEME)
    drain(services)

    verified(services, 1, start=5)
    report = services.formation.form_theme(THEME)

    assert report.members_joined == 1 and report.groups_formed == 0
    [group] = groups(services)
    assert len(group.member_keys) == 6
    new = [m for m in outbox(services) if m.created_at > group.formed_at]
    assert Counter(m.kind for m in new) == {MessageKind.INVITATION: 1, MessageKind.MEMBER_JOINED: 1}
    [queued] = [parse_queue_message(text) for text in drain(services)]  # one message for the one change
    assert sorted(queued.rows) == sorted(m.key for m in new)


def test_the_waiting_line_is_who_waits_oldest_first_and_the_groups_that_take_members(services):
    add_facilitator(services)
    verified(services, 5)
    services.formation.form_theme(THEME)
    [group] = groups(services)
    verified(services, 3, start=5)

    waiting, open_groups = services.interests.unit().waiting_line(THEME)

    assert len(waiting) == 3 and set(waiting).isdisjoint(group.member_keys)
    assert [p.created_at for p in waiting.values()] == sorted(p.created_at for p in waiting.values())
    assert list(open_groups) == [group.key]


def test_racing_workers_never_put_a_person_in_two_groups(make_services):
    doc = municipality("region-jonkoping")["organisation"]
    services = make_services(doc)
    for i in range(6):
        add_facilitator(services, name=f"Facilitator {i}", capacity=10)
    seed_waiting(services, 200)

    # Four workers as four instances would run them: each wired on its own, sharing only the storage.
    workers = [rewired(services, clock=services.clock).formation for _ in range(4)]
    errors: list[BaseException] = []

    def run(worker: FormationService) -> None:
        try:
            worker.form_theme(THEME)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors

    formed = groups(services)
    all_members = [key for g in formed for key in g.member_keys]
    assert len(all_members) == len(set(all_members)), "someone is in two groups"
    assert all(5 <= len(g.member_keys) <= 8 for g in formed)
    assert len(all_members) == 200  # 200 = 25 groups of 8
    interests = {r["RowKey"]: interest_from(r) for r in rows(services) if r.get("Kind") == "interest"}
    for g in formed:
        for key in g.member_keys:
            assert interests[key].group_id == g.key
    invitations = [m for m in outbox(services) if m.kind is MessageKind.INVITATION]
    assert Counter(m.recipient_id for m in invitations) == Counter(all_members)  # one invitation each


def test_a_crash_between_commit_and_enqueue_is_repaired_by_the_next_sweep_once(services):
    add_facilitator(services)
    verified(services, 5)
    clock = Clock()

    def crash(_messages):
        raise RuntimeError("host died after commit")

    crashing = FormationService(  # production's formation with the fault-injection seam
        interests=services.interests,
        queues=services.queues,
        organisation=services.organisation,
        facilitators=services.facilitators,
        join_window=timedelta(days=services.settings.join_window_days),
        clock=clock,
        after_commit=crash,
    )
    with pytest.raises(RuntimeError):
        crashing.form_theme(THEME)
    assert len(outbox(services)) == 6
    assert drain(services) == []

    sweeper = rewired(services, clock=clock).formation
    assert sweeper.sweep().messages_queued == 0  # too fresh: the original enqueue may still be coming
    clock.advance(minutes=4)
    assert sweeper.sweep().messages_queued == 6
    [queued] = [parse_queue_message(text) for text in drain(services)]  # the group's six rows, in one message
    assert sorted(queued.rows) == sorted(m.key for m in outbox(services))
    assert sweeper.sweep().messages_queued == 0  # once
    clock.advance(minutes=4)
    assert sweeper.sweep().messages_queued == 6  # still unsent later: tried again, never lost


def test_no_eligible_facilitator_awaits_then_assigns_when_one_is_added(services):
    add_facilitator(services, name="Nils Berg", themes=["anhorig"])  # not trained for stress
    verified(services, 5)

    services.formation.form_theme(THEME)
    [group] = groups(services)
    assert group.status is GroupStatus.AWAITING_FACILITATOR and group.facilitator_id is None
    assert [m.kind for m in outbox(services)] == [MessageKind.COORDINATOR_ALERT]
    drain(services)

    services.formation.sweep()  # nothing changes, and the coordinator is not alerted again
    assert [m.kind for m in outbox(services)] == [MessageKind.COORDINATOR_ALERT]

    eva = add_facilitator(services, themes=["stress"])
    report = services.formation.sweep()
    assert report.facilitators_assigned == 1
    [group] = groups(services)
    assert group.status is GroupStatus.FORMING and group.facilitator_id == eva.id
    kinds = Counter(m.kind for m in outbox(services))
    assert kinds == {MessageKind.COORDINATOR_ALERT: 1, MessageKind.INVITATION: 5, MessageKind.ROSTER: 1}
