"""The rules that decide about people, in core: who may run a group (`refusal`), what leaving a group does
(`remove_member`), the texts' addressing helpers and the public ids. Written for `make mutate`: these ran
only under Azurite before, where a mutant of them was never tried."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.domain import (
    Group,
    GroupStatus,
    Interest,
    MessageKind,
    RecipientType,
    more_needed,
    new_message,
    new_sortable_key,
    public_id,
    remove_member,
    split_interest_id,
    split_public_id,
    to_coordinator,
    to_facilitator,
    to_members,
    utcnow,
)
from shared.core.facilitators import Facilitator, refusal
from shared.core.matching import (
    FacilitatorLoad,
    MatchingRules,
    OpenGroup,
    WaitingInterest,
    group_sizes,
    plan_formation,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
KEY = "0193ab4c5d6e7f8091a2b3c4"  # 24 hex digits, as sortable keys are


def facilitator(**changes: object) -> Facilitator:
    values: dict[str, object] = {
        "id": "f1",
        "name": "Eva Lind",
        "phone": "+46701740610",
        "themes": ["stress"],
        "areas": ["habo"],
        "locales": ["sv"],
        "capacity": 2,
        "active": True,
        "created_at": NOW,
    }
    return Facilitator(**(values | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "theme", "area", "locale", "load", "why"),
    [
        ({}, "stress", "habo", "sv", 0, None),
        ({}, "stress", "habo", "sv", 1, None),  # one below capacity
        ({}, "stress", "habo", "sv", 2, "capacity"),  # at capacity
        ({"active": False}, "stress", "habo", "sv", 0, "inactive"),
        ({"active": False, "themes": ["grief"]}, "stress", "habo", "sv", 0, "inactive"),  # inactive first
        ({}, "grief", "habo", "sv", 0, "theme"),
        ({"themes": []}, "grief", "habo", "sv", 0, None),  # no themes: trained for all
        ({}, "stress", "eksjo", "sv", 0, "area"),
        ({"areas": []}, "stress", "eksjo", "sv", 0, None),  # no areas: every area
        ({}, "stress", None, "sv", 0, None),  # a group without an area fits anyone
        ({}, "stress", "", "sv", 0, None),
        ({}, "stress", "habo", "en", 0, "locale"),
        ({"locales": ["sv", "en"]}, "stress", "habo", "en", 0, None),
        ({}, "grief", "eksjo", "en", 5, "theme"),  # the first reason in the rule's order
        ({}, "stress", "eksjo", "en", 5, "area"),
        ({}, "stress", "habo", "en", 5, "locale"),
    ],
)
def test_who_may_run_a_group(
    changes: dict[str, object], theme: str, area: str | None, locale: str, load: int, why: str | None
) -> None:
    assert refusal(facilitator(**changes), theme=theme, area=area, locale=locale, load=load) == why


def person(n: int, name: str = "") -> Interest:
    return Interest(
        theme="stress",
        key=f"interest.{n:024x}",
        name=name or f"Person {n}",
        phone=f"+4670174060{n}",
        locale="sv",
        consent_version="1",
        created_at=NOW,
        withdraw_token_hash="x",
    )


def group(status: GroupStatus = GroupStatus.ACTIVE, facilitator_id: str | None = "f1") -> Group:
    return Group(
        theme="stress",
        key=f"group.{KEY}",
        locale="nb",
        status=status,
        facilitator_id=facilitator_id,
        member_keys=tuple(person(n).key for n in range(5)),
        formed_at=NOW,
    )


@pytest.mark.parametrize("status", [GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING, GroupStatus.ACTIVE,
                                    GroupStatus.ON_ITS_OWN])  # fmt: skip
def test_a_leaver_is_taken_off_and_the_facilitator_told(status: GroupStatus) -> None:
    leaver = person(2, "Ylva Quennerstedt")
    removal = remove_member(group(status), leaver, NOW)
    assert removal.group.member_keys == tuple(person(n).key for n in (0, 1, 3, 4))
    assert removal.group.status is status and removal.group.key == f"group.{KEY}"
    message = removal.message
    assert message is not None
    assert (message.kind, message.recipient_type, message.recipient_id) == (
        MessageKind.MEMBER_LEFT,
        RecipientType.FACILITATOR,
        "f1",
    )
    assert message.subject_keys == (leaver.key,) and message.subject_name == "Ylva Quennerstedt"
    assert (message.theme, message.group_key, message.locale, message.created_at) == (
        "stress",
        f"group.{KEY}",
        "nb",
        NOW,
    )


def test_nobody_is_told_when_the_group_is_closed_or_has_no_facilitator() -> None:
    for quiet in (group(GroupStatus.CLOSED), group(facilitator_id=None)):
        removal = remove_member(quiet, person(0), NOW)
        assert removal.message is None
        assert len(removal.group.member_keys) == 4


def test_someone_not_in_the_group_leaves_it_as_it_is() -> None:
    removal = remove_member(group(), person(9), NOW)
    assert removal.group.member_keys == group().member_keys


def test_texts_to_members_address_each_member_or_the_chosen_ones() -> None:
    every = to_members(group(), MessageKind.INVITATION, NOW)
    assert [m.recipient_id for m in every] == list(group().member_keys)
    assert {(m.kind, m.recipient_type, m.group_key, m.locale) for m in every} == {
        (MessageKind.INVITATION, RecipientType.MEMBER, f"group.{KEY}", "nb")
    }
    assert len({m.key for m in every}) == 5 and all(m.key.startswith("outbox.") for m in every)
    chosen = to_members(group(), MessageKind.HANDOVER, NOW, [person(3).key])
    assert [m.recipient_id for m in chosen] == [person(3).key]
    assert to_members(group(), MessageKind.HANDOVER, NOW, []) == []


def test_a_text_to_the_facilitator_goes_to_the_groups_one_unless_another_is_named() -> None:
    assert to_facilitator(group(), MessageKind.ROSTER, NOW).recipient_id == "f1"
    assert to_facilitator(group(), MessageKind.ROSTER, NOW, facilitator_id="f2").recipient_id == "f2"
    assert to_facilitator(group(facilitator_id=None), MessageKind.ROSTER, NOW).recipient_id == ""


def test_an_alert_to_the_coordinator_carries_its_reason_and_nobody() -> None:
    alert = to_coordinator("stress", f"group.{KEY}", "stuck", NOW, "sv", error_code=21211, key="outbox.x")
    assert (alert.kind, alert.recipient_type, alert.recipient_id) == (
        MessageKind.COORDINATOR_ALERT,
        RecipientType.COORDINATOR,
        "",
    )
    assert (alert.reason, alert.error_code, alert.key, alert.locale, alert.group_key) == (
        "stuck",
        21211,
        "outbox.x",
        "sv",
        f"group.{KEY}",
    )
    assert alert.subject_keys == () and alert.subject_name == ""


@pytest.mark.parametrize(("group_min", "waiting", "more"), [(5, 0, 5), (5, 4, 1), (5, 5, 0), (5, 9, 0), (1, 0, 1)])
def test_how_many_more_are_needed(group_min: int, waiting: int, more: int) -> None:
    assert more_needed(group_min, waiting) == more


def test_public_ids_round_trip_and_refuse_other_shapes() -> None:
    assert public_id("stress", f"group.{KEY}") == f"stress.{KEY}"
    assert public_id("anhoriga", f"interest.{KEY}") == f"anhoriga.{KEY}"
    assert split_interest_id(f"stress.{KEY}") == ("stress", f"interest.{KEY}")
    assert split_public_id(f"stress.{KEY}", "group.") == ("stress", f"group.{KEY}")
    for bad in (f"stress.{KEY}x", f"Stress.{KEY}", f"stress{KEY}", f".{KEY}", "stress.0193", None, 7, f"s.{KEY[:-1]}"):
        assert split_public_id(bad, "group.") is None, bad
    assert split_public_id(f"{'a' * 40}.{KEY}", "group.") == ("a" * 40, f"group.{KEY}")
    assert split_public_id(f"{'a' * 41}.{KEY}", "group.") is None


# --- matching refuses inputs that would place someone twice or make impossible groups ---------------------


def rules(min_size: int = 5, max_size: int = 8) -> MatchingRules:
    return MatchingRules(min_size, max_size, timedelta(days=14), match_by_area=False, default_locale="sv")


def waiting(*ids: str) -> list[WaitingInterest]:
    return [WaitingInterest(i, None, "sv", NOW) for i in ids]


@pytest.mark.parametrize(("low", "high"), [(0, 8), (-1, 8), (9, 8), (0, 0)])
def test_impossible_group_sizes_are_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError, match=rf"1 <= min_size <= max_size, got {low}\.\.{high}"):
        plan_formation("stress", waiting("a"), [], [], rules(low, high), NOW)


def test_the_smallest_possible_sizes_are_accepted() -> None:
    plan = plan_formation("stress", waiting("a"), [], [], rules(1, 1), NOW)
    assert [g.interest_ids for g in plan.new_groups] == [("a",)]


def test_a_duplicate_id_is_refused_and_named_by_its_kind() -> None:
    with pytest.raises(ValueError, match="duplicate interest id 'a'"):
        plan_formation("stress", waiting("a", "b", "a"), [], [], rules(), NOW)
    group = OpenGroup("g", None, "sv", 5, NOW, "f")
    with pytest.raises(ValueError, match="duplicate group id 'g'"):
        plan_formation("stress", waiting("a"), [group, group], [], rules(), NOW)
    load = FacilitatorLoad("f", frozenset(), frozenset(), frozenset({"sv"}), 2, True, 0, None)
    with pytest.raises(ValueError, match="duplicate facilitator id 'f'"):
        plan_formation("stress", waiting("a"), [], [load, load], rules(), NOW)


# --- the shapes every stored row relies on -------------------------------------------------------------


def test_now_is_aware_utc_and_keys_sort_by_their_millisecond() -> None:
    assert utcnow().tzinfo is UTC
    before = time.time_ns() // 1_000_000
    key = new_sortable_key()
    after = time.time_ns() // 1_000_000
    assert re.fullmatch(r"[0-9a-f]{24}", key), key  # 12 hex of milliseconds, 12 random
    assert before <= int(key[:12], 16) <= after


def test_a_new_message_names_nobody_and_no_group_unless_told() -> None:
    message = new_message("stress", MessageKind.FACILITATOR_REPORT, RecipientType.COORDINATOR, now=NOW, locale="sv")
    assert (message.group_key, message.reason, message.subject_name, message.recipient_id) == ("", "", "", "")
    assert message.subject_keys == () and message.error_code is None
    assert to_facilitator(group(), MessageKind.ROSTER, NOW).subject_name == ""


@pytest.mark.parametrize(("low", "high"), [(0, 8), (9, 8)])
def test_group_sizes_refuses_impossible_bounds_itself(low: int, high: int) -> None:
    with pytest.raises(ValueError, match=rf"1 <= min_size <= max_size, got {low}\.\.{high}"):
        group_sizes(12, low, high)
