"""Erasing a number against Azurite: waiting and grouped people, the facilitator's update, lost races."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.entities import etag_of
from shared.adapters.interests import Rows
from shared.adapters.storage import INTERESTS, RATE_LIMITS
from shared.composition import Services
from shared.core.domain import (
    PHONE_PREFIX,
    GroupStatus,
    InterestStatus,
    MessageKind,
    MessageStatus,
    RecipientType,
    utcnow,
)
from shared.services import erasure
from shared.services.outbox import notification_for
from tests.support.privacy import (
    LEAVER,
    LEAVER_NAME,
    form_group,
    number_needles,
    person,
    register_verified,
    traces,
)
from tests.support.tables import THEME, drain, groups, interests, messages_of, queued, rows

OTHER_THEME = "anhorig"


# --- helpers (the approach of test_formation.py, with numbers and names easy to search for) ------------


def rows_by_key(services: Services) -> dict[str, dict]:
    return {r["RowKey"]: r for r in rows(services)}


def leaver_key(services: Services) -> str:
    return next(i.key for i in interests(services) if i.phone == LEAVER)


# --- waiting and pending ------------------------------------------------------------------------------


def test_a_waiting_person_is_erased_and_nobody_else_is_touched(services):
    for i in range(3):
        register_verified(services, *person(i))
    register_verified(services, LEAVER_NAME, LEAVER, locale="en")
    before = {r["RowKey"]: etag_of(r) for r in rows(services) if r.get("Kind") == "interest" and r["Phone"] != LEAVER}
    assert services.storage.table(RATE_LIMITS).query_entities(
        "PartitionKey eq @p", parameters={"p": PHONE_PREFIX + services.keyer.key(LEAVER)}
    ), "registration counts codes per number"

    report = services.erasure.erase_number(LEAVER)

    assert (report.interests_erased, report.groups_left, report.facilitators_notified) == (1, 0, 0)
    assert report.rate_limit_rows_erased == 1
    assert report.locale == "en"
    after = {r["RowKey"]: etag_of(r) for r in rows(services) if r.get("Kind") == "interest"}
    assert after == before, "the others' rows are unchanged"
    assert traces(services, number_needles(LEAVER) | {LEAVER_NAME}) == []
    assert messages_of(services) == [] and queued(services) == []


def test_an_unconfirmed_registration_is_erased_too(services):
    register_verified(services, LEAVER_NAME, LEAVER, verify=False)
    [pending] = interests(services)
    assert pending.status is InterestStatus.PENDING_VERIFICATION

    report = services.erasure.erase_number(LEAVER)

    assert report.interests_erased == 1
    assert traces(services, number_needles(LEAVER) | {LEAVER_NAME}) == []


def test_every_theme_is_erased_and_the_newest_interest_gives_the_language(services):
    register_verified(services, LEAVER_NAME, LEAVER, theme=THEME, locale="sv")
    register_verified(services, LEAVER_NAME, LEAVER, theme=OTHER_THEME, locale="en")
    assert len(services.erasure.interests_of_number(LEAVER)) == 2

    report = services.erasure.erase_number(LEAVER)

    assert report.interests_erased == 2
    assert report.locale == "en"
    assert services.erasure.interests_of_number(LEAVER) == []
    assert traces(services, number_needles(LEAVER)) == []


def test_an_unknown_number_erases_nothing(services):
    register_verified(services, *person(1))
    report = services.erasure.erase_number("+46709999999")
    assert report == erasure.ErasureReport()
    assert not report.found
    assert len(interests(services)) == 1


def test_a_marker_left_behind_is_removed(services):
    register_verified(services, LEAVER_NAME, LEAVER)
    [interest] = interests(services)
    services.storage.table(INTERESTS).delete_entity(THEME, interest.key)  # the interest alone is gone

    report = services.erasure.erase_number(LEAVER)

    assert report.interests_erased == 0
    with pytest.raises(ResourceNotFoundError):
        services.storage.table(INTERESTS).get_entity(THEME, PHONE_PREFIX + services.keyer.key(LEAVER))


# --- grouped --------------------------------------------------------------------------------------


def test_a_member_leaves_the_group_and_the_facilitator_is_told(services):
    group = form_group(services)
    leaver = next(i for i in interests(services) if i.phone == LEAVER)
    assert leaver.key in group.member_keys
    drain(services)

    report = services.erasure.erase_number(LEAVER)

    assert (report.interests_erased, report.groups_left, report.facilitators_notified) == (1, 1, 1)
    assert report.outbox_rows_erased == 1  # the leaver's invitation: a queued copy now finds nothing to send
    [after] = groups(services)
    assert after.member_keys == tuple(k for k in group.member_keys if k != leaver.key)
    assert rows_by_key(services)[after.key]["MemberCount"] == 4
    [left] = [m for m in messages_of(services) if m.kind is MessageKind.MEMBER_LEFT]
    assert left.recipient_type is RecipientType.FACILITATOR
    assert left.recipient_id == group.facilitator_id
    assert left.group_key == group.key
    assert left.subject_keys == (leaver.key,)
    assert left.subject_name == LEAVER_NAME
    assert left.status is MessageStatus.PENDING
    assert queued(services) == [notification_for(left)]
    assert not [m for m in messages_of(services) if m.recipient_id == leaver.key]
    assert traces(services, number_needles(LEAVER)) == []
    assert traces(services, {LEAVER_NAME}) == ["interests/SubjectName"]  # until the facilitator is told


def test_the_facilitator_gets_the_leavers_name_once_and_then_it_is_gone(services, outbox):
    form_group(services)
    invitation = next(
        m for m in messages_of(services) if m.kind is MessageKind.INVITATION and m.recipient_id == leaver_key(services)
    )
    drain(services)
    services.erasure.erase_number(LEAVER)
    [queue_text] = queued(services)
    sent_before = len(outbox.messages())

    assert services.notifier.send(THEME, invitation.key).reason == "gone"  # the leaver gets no invitation
    outcome = services.notifier.handle(queue_text)

    assert outcome.sent
    [text] = outbox.messages()[sent_before:]
    assert text.to == "+46701740610"
    assert LEAVER_NAME in text.body and "Nu är det 4 i gruppen" in text.body
    assert traces(services, number_needles(LEAVER) | {LEAVER_NAME}) == []


def test_with_a_sender_the_providers_copies_to_and_about_them_go_at_once(services, outbox):
    form_group(services)
    for text in drain(services):
        services.notifier.handle(text)
    held = {m.sid for m in outbox.messages()}
    about_them = {m.sid for m in outbox.messages() if m.to == LEAVER or LEAVER_NAME in m.body}
    assert len(about_them) == 3  # their code, their invitation, the facilitator's roster

    report = services.erasure.erase_number(LEAVER)

    assert report.provider_copies_deleted == 3
    assert {m.sid for m in outbox.messages()} == held - about_them
    assert traces(services, number_needles(LEAVER)) == []


def test_a_member_of_a_group_awaiting_a_facilitator_leaves_without_an_update(services):
    group = form_group(services, with_facilitator=False)
    assert group.status is GroupStatus.AWAITING_FACILITATOR
    drain(services)

    report = services.erasure.erase_number(LEAVER)

    assert (report.interests_erased, report.groups_left, report.facilitators_notified) == (1, 1, 0)
    [after] = groups(services)
    assert len(after.member_keys) == 4
    assert not [m for m in messages_of(services) if m.kind is MessageKind.MEMBER_LEFT]
    assert queued(services) == []


def test_a_closed_group_is_updated_without_telling_anyone(services):
    group = form_group(services)
    services.storage.table(INTERESTS).update_entity(
        {"PartitionKey": THEME, "RowKey": group.key, "Status": GroupStatus.CLOSED.value}, mode=UpdateMode.MERGE
    )
    drain(services)

    report = services.erasure.erase_number(LEAVER)

    assert (report.groups_left, report.facilitators_notified) == (1, 0)
    assert len(groups(services)[0].member_keys) == 4
    assert queued(services) == []


def test_a_lost_race_on_the_group_row_is_retried(services, monkeypatch):
    """Someone else changes the group between our read and our commit: we read again and win."""
    form_group(services)
    drain(services)
    real = Rows.group
    calls = []

    def racing(rows, theme, key):
        group = real(rows, theme, key)
        calls.append(group)
        if len(calls) == 1 and group is not None:
            # Another writer (an admin note, a formation run) touches the row after our read.
            services.storage.table(INTERESTS).update_entity(
                {"PartitionKey": group.theme, "RowKey": group.key, "Touched": len(calls)}, mode=UpdateMode.MERGE
            )
        return group

    monkeypatch.setattr(Rows, "group", racing)

    report = services.erasure.erase_number(LEAVER)

    assert len(calls) == 2
    assert (report.interests_erased, report.groups_left, report.facilitators_notified) == (1, 1, 1)
    [after] = groups(services)
    assert len(after.member_keys) == 4
    left = [m for m in messages_of(services) if m.kind is MessageKind.MEMBER_LEFT]
    assert len(left) == 1, "no update from the lost try"
    assert len(queued(services)) == 1


def test_a_race_lost_every_time_gives_up_without_a_half_erasure(services, monkeypatch):
    form_group(services)
    real = Rows.group

    def always_racing(rows, theme, key):
        group = real(rows, theme, key)
        assert group is not None
        services.storage.table(INTERESTS).update_entity(
            {"PartitionKey": group.theme, "RowKey": group.key, "Touched": utcnow()}, mode=UpdateMode.MERGE
        )
        return group

    monkeypatch.setattr(Rows, "group", always_racing)

    with pytest.raises(erasure.ErasureGaveUp):
        services.erasure.erase_number(LEAVER)
    assert any(i.phone == LEAVER for i in interests(services)), "all or nothing"
    assert len(groups(services)[0].member_keys) == 5


def test_helpers_find_what_they_look_for(services):
    """The scan would see a number if one were left: it is no vacuous check."""
    register_verified(services, LEAVER_NAME, LEAVER)
    found = traces(services, number_needles(LEAVER))
    assert "interests/Phone" in found and "interests/RowKey" in found and "ratelimits/PartitionKey" in found
