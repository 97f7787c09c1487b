"""What is due when: lifecycle steps, retention rules and statistics, with a fake clock; the texts'
length; the operators' input checks. No storage."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.templates import Templates
from shared.core.domain import INTEREST_PREFIX, Group, GroupStatus, Interest, InterestStatus
from shared.core.i18n import LOCALES
from shared.core.local_time import format_meeting_time, organisation_tz
from shared.core.sms_segments import segment_info
from shared.core.statistics import CSV_COLUMNS, Counts, interest_counts, median, statistics_csv_text
from shared.services.lifecycle import Due, LifecycleRules, check_in_due, due, on_its_own_due, reminder_due
from shared.services.operations_base import PLACE_MAX, OperationError, check_meeting_time, clean_place
from shared.services.retention import RetentionRules, group_erasure_due, interest_erasure_reason, outbox_expired

STOCKHOLM = ZoneInfo("Europe/Stockholm")
RULES = LifecycleRules(facilitator_meetings=5, check_in_weeks=7, escalate_stuck_after=timedelta(days=21), tz=STOCKHOLM)
# Tuesday 14 May 2030, 18:00 in Stockholm (16:00 UTC, summer time).
FIRST = datetime(2030, 5, 14, 16, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def group(**kw) -> Group:
    values = {
        "theme": "stress",
        "key": "group.0000000000000000000000aa",
        "locale": "sv",
        "status": GroupStatus.ACTIVE,
        "facilitator_id": "f1",
        "member_keys": ("interest.a", "interest.b"),
        "formed_at": FIRST - timedelta(days=20),
        "first_meeting_at": FIRST,
        "meeting_place": "Folkets hus",
        **kw,
    }
    return Group(**values)


def at(day: int, hour: int = 7) -> datetime:
    """A day relative to the first meeting's date (0 = its day), at `hour` UTC: when the timer runs."""
    return datetime(2030, 5, 14, hour, 0, tzinfo=UTC) + timedelta(days=day)


# --- reminders ------------------------------------------------------------------------------------


def test_reminder_is_due_from_the_day_before_until_the_meeting():
    g = group()
    assert not reminder_due(g, at(-2), STOCKHOLM)
    assert reminder_due(g, at(-1), STOCKHOLM)  # 33 hours before, but the day before by the calendar
    assert reminder_due(g, at(0), STOCKHOLM)  # a run missed yesterday still reminds before it starts
    assert not reminder_due(g, FIRST, STOCKHOLM)
    assert not reminder_due(g, at(1), STOCKHOLM)


def test_the_day_before_is_counted_in_local_time():
    # 00:30 on Wednesday in Stockholm is still Tuesday 22:30 UTC.
    g = group(first_meeting_at=datetime(2030, 5, 14, 22, 30, tzinfo=UTC))
    assert not reminder_due(g, datetime(2030, 5, 13, 21, 0, tzinfo=UTC), STOCKHOLM)  # Monday 23:00 local
    assert reminder_due(g, datetime(2030, 5, 13, 22, 30, tzinfo=UTC), STOCKHOLM)  # Tuesday 00:30 local


def test_reminder_only_once_and_only_for_active_groups():
    assert not reminder_due(group(reminder_sent=True), at(-1), STOCKHOLM)
    for status in (GroupStatus.FORMING, GroupStatus.ON_ITS_OWN, GroupStatus.CLOSED):
        assert not reminder_due(group(status=status), at(-1), STOCKHOLM)
    assert not reminder_due(group(first_meeting_at=None), at(-1), STOCKHOLM)


# --- on its own, check-in, closing ----------------------------------------------------------------


def test_on_its_own_when_the_meetings_held_reach_the_facilitators_number_not_by_the_calendar():
    assert not on_its_own_due(group(meetings_held=4), 5)
    assert on_its_own_due(group(meetings_held=5), 5)
    assert on_its_own_due(group(meetings_held=1), 1)  # one facilitated meeting only
    # A year of calendar weeks with no meeting recorded moves nothing: only meetings held count.
    assert not due(group(meetings_held=0), FIRST + timedelta(days=365), RULES).on_its_own
    assert not on_its_own_due(group(status=GroupStatus.FORMING, meetings_held=9), 5)
    assert not on_its_own_due(group(status=GroupStatus.ON_ITS_OWN, meetings_held=9), 5)


def test_check_in_weeks_after_the_first_meeting_once_and_only_with_a_facilitator():
    g = group(status=GroupStatus.ON_ITS_OWN)
    assert not check_in_due(g, FIRST + timedelta(weeks=7) - timedelta(seconds=1), 7)
    assert check_in_due(g, FIRST + timedelta(weeks=7), 7)
    assert check_in_due(group(), FIRST + timedelta(weeks=7), 7)
    assert not check_in_due(group(check_in_sent=True), FIRST + timedelta(weeks=8), 7)
    assert not check_in_due(group(facilitator_id=None), FIRST + timedelta(weeks=8), 7)
    assert not check_in_due(group(status=GroupStatus.CLOSED), FIRST + timedelta(weeks=8), 7)


def test_no_group_is_ever_closed_by_the_timer():
    """Issue 12: "gruppen fortsätter så länge deltagarna vill" - a group on its own is never closed by time."""
    assert "close" not in Due.__dataclass_fields__
    for days in (0, 180, 365, 3 * 365):
        for status in (GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN):
            todo = due(group(status=status, meetings_held=5, check_in_sent=True), FIRST + timedelta(days=days), RULES)
            assert todo in (Due(), Due(on_its_own=True)), (status, days, todo)


def test_steps_that_fall_due_together_are_decided_together():
    # The timer was down for two months after the fifth meeting was recorded: hand over and check in.
    both = due(group(meetings_held=5), FIRST + timedelta(weeks=8), RULES)
    assert both == Due(on_its_own=True, check_in=True)
    assert not due(group(status=GroupStatus.CLOSED), FIRST + timedelta(days=365), RULES).anything


def test_a_group_stuck_before_active_is_escalated_once_after_the_configured_time():
    formed = FIRST - timedelta(days=30)
    for status in (GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING):
        g = group(status=status, formed_at=formed, first_meeting_at=None)
        assert not due(g, formed + timedelta(days=21) - timedelta(seconds=1), RULES).anything
        assert due(g, formed + timedelta(days=21), RULES) == Due(escalate=True)
        told = g.model_copy(update={"escalated_at": formed + timedelta(days=21)})
        assert not due(told, formed + timedelta(days=400), RULES).anything  # once
    for status in (GroupStatus.ACTIVE, GroupStatus.ON_ITS_OWN, GroupStatus.CLOSED):
        assert not due(group(status=status, formed_at=formed), formed + timedelta(days=400), RULES).escalate


def test_a_daily_timer_over_half_a_year_does_each_step_once_on_the_right_day():
    """Apply what is due at 07:00 UTC every day, as the timer does, with the facilitator recording a
    meeting each week after it is held, and record the days."""
    g = group(first_meeting_at=FIRST, reminder_sent=False)
    clock = Clock(at(-10))
    events: list[tuple[str, int]] = []
    for _ in range(200):
        day = (clock().date() - FIRST.date()).days
        if day >= 1 and (day - 1) % 7 == 0 and g.status is GroupStatus.ACTIVE:
            g = g.model_copy(update={"meetings_held": g.meetings_held + 1})  # the morning after a meeting
        todo = due(g, clock(), RULES)
        changes: dict = {}
        if todo.reminder:
            events.append(("reminder", day))
            changes["reminder_sent"] = True
        if todo.on_its_own:
            events.append(("on_its_own", day))
            changes["status"] = GroupStatus.ON_ITS_OWN
        if todo.check_in:
            events.append(("check_in", day))
            changes["check_in_sent"] = True
        assert not todo.escalate
        g = g.model_copy(update=changes)
        clock.advance(days=1)
    assert events == [("reminder", -1), ("on_its_own", 29), ("check_in", 50)]


# --- meeting times in texts -----------------------------------------------------------------------


def test_meeting_times_read_as_local_wall_clock_in_each_language():
    assert format_meeting_time(FIRST, "sv", STOCKHOLM) == "tisdag 14 maj kl. 18.00"
    assert format_meeting_time(FIRST, "nb", ZoneInfo("Europe/Oslo")) == "tirsdag 14. mai kl. 18.00"
    assert format_meeting_time(FIRST, "en", STOCKHOLM) == "Tuesday 14 May at 18:00"
    winter = datetime(2030, 1, 7, 17, 30, tzinfo=UTC)  # a Monday; UTC+1 in winter
    assert format_meeting_time(winter, "sv", STOCKHOLM) == "måndag 7 januari kl. 18.30"


def test_the_organisations_clock_is_its_countrys_zone_with_the_eu_summer_time_switches():
    sweden = organisation_tz(type("Org", (), {"country": "SE"})())  # type: ignore[arg-type]
    norway = organisation_tz(type("Org", (), {"country": "NO"})())  # type: ignore[arg-type]
    assert (str(sweden), str(norway)) == ("Europe/Stockholm", "Europe/Oslo")
    # The last Sundays of March and October 2030, 01:00 UTC (from the tz database that tzdata ships).
    for zone in (sweden, norway):
        assert datetime(2030, 3, 31, 0, 59, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(hours=1)
        assert datetime(2030, 3, 31, 1, 0, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(hours=2)
        assert datetime(2030, 10, 27, 0, 59, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(hours=2)
        assert datetime(2030, 10, 27, 1, 0, tzinfo=UTC).astimezone(zone).utcoffset() == timedelta(hours=1)


# --- operators' input ------------------------------------------------------------------------------


def test_meeting_time_must_be_aware_future_and_within_a_year():
    now = datetime(2030, 5, 1, 12, tzinfo=UTC)
    assert check_meeting_time(FIRST, now) == FIRST
    assert check_meeting_time(FIRST.astimezone(STOCKHOLM), now) == FIRST
    for when, detail in [
        (FIRST.replace(tzinfo=None), "time_required"),
        ("2030-05-14T18:00", "time_required"),
        (now, "past"),
        (now - timedelta(days=1), "past"),
        (now + timedelta(days=366), "too_far"),
    ]:
        with pytest.raises(OperationError) as caught:
            check_meeting_time(when, now)
        assert (caught.value.code, caught.value.detail) == ("invalid_meeting", detail)


def test_place_is_one_clean_line_of_at_most_200_characters():
    assert clean_place("  Folkets hus,\n  rum 3 ") == "Folkets hus, rum 3"
    assert clean_place("https://meet.example/abc?x=1") == "https://meet.example/abc?x=1"
    assert clean_place("x" * PLACE_MAX) == "x" * PLACE_MAX
    for bad, detail in [
        ("", "place_required"),
        ("   ", "place_required"),
        (None, "place_required"),
        ("x" * (PLACE_MAX + 1), "place_too_long"),
        ("Folkets\x00hus", "place_invalid"),
        ("Folkets\x1b[31mhus", "place_invalid"),
        ("Folkets \u202ehus", "place_invalid"),
    ]:
        with pytest.raises(OperationError) as caught:
            clean_place(bad)
        assert caught.value.detail == detail


# --- retention rules -------------------------------------------------------------------------------

T0 = datetime(2030, 1, 10, 9, tzinfo=UTC)
KEEP = RetentionRules(retention=timedelta(days=180), closed_group_retention=timedelta(days=30))


def interest(**kw) -> Interest:
    values = {
        "theme": "stress",
        "key": INTEREST_PREFIX + "0" * 24,
        "name": "Anna Berg",
        "phone": "+46701234567",
        "locale": "sv",
        "area": "habo",
        "status": InterestStatus.WAITING,
        "consent_version": "1",
        "created_at": T0,
        "verified_at": T0 + timedelta(minutes=2),
        "withdraw_token_hash": "x",
        **kw,
    }
    return Interest(**values)


def test_never_grouped_interests_go_after_the_retention_period():
    person = interest()
    assert interest_erasure_reason(person, None, T0 + timedelta(days=179), KEEP) is None
    assert interest_erasure_reason(person, None, T0 + timedelta(days=180), KEEP) == "never_grouped"


def test_unverified_interests_go_a_day_after_their_code_expired():
    person = interest(
        status=InterestStatus.PENDING_VERIFICATION, verified_at=None, code_expires_at=T0 + timedelta(minutes=10)
    )
    assert interest_erasure_reason(person, None, T0 + timedelta(days=1), KEEP) is None
    assert interest_erasure_reason(person, None, T0 + timedelta(days=1, minutes=10), KEEP) == "unverified"
    no_expiry = person.model_copy(update={"code_expires_at": None})
    assert interest_erasure_reason(no_expiry, None, T0 + timedelta(days=1, minutes=10), KEEP) == "unverified"


def test_members_stay_while_their_group_lives_and_go_with_it():
    g = group(member_keys=(interest().key,), status=GroupStatus.CLOSED, closed_at=T0 + timedelta(days=10))
    member = interest(status=InterestStatus.GROUPED, group_id=g.key)
    assert interest_erasure_reason(member, g, T0 + timedelta(days=900), KEEP) is None  # the group decides
    assert not group_erasure_due(g, T0 + timedelta(days=39), KEEP)
    assert group_erasure_due(g, T0 + timedelta(days=40), KEEP)
    assert not group_erasure_due(g.model_copy(update={"members_erased_at": T0}), T0 + timedelta(days=90), KEEP)
    assert not group_erasure_due(group(), T0 + timedelta(days=900), KEEP)  # not closed
    # Someone left behind in an erased group, or grouped into a group that is gone.
    erased = g.model_copy(update={"member_keys": (), "members_erased_at": T0})
    assert interest_erasure_reason(member, erased, T0 + timedelta(days=41), KEEP) == "group_erased"
    assert interest_erasure_reason(member, None, T0 + timedelta(days=180), KEEP) == "never_grouped"


def test_outbox_rows_go_after_the_retention_period():
    assert not outbox_expired(T0, T0 + timedelta(days=179), KEEP)
    assert outbox_expired(T0, T0 + timedelta(days=180), KEEP)


# --- statistics ------------------------------------------------------------------------------------


def test_median_of_a_histogram():
    assert median({}) is None
    assert median({3: 1}) == 3
    assert median({1: 1, 2: 1, 10: 1}) == 2
    assert median({1: 2, 5: 2}) == 3
    assert median({0: 5, 9: 1}) == 0


def test_one_interest_counts_where_and_when_each_step_happened():
    tz = STOCKHOLM
    registered = datetime(2030, 1, 31, 23, 30, tzinfo=UTC)  # 1 February in Stockholm
    person = interest(
        created_at=registered,
        verified_at=registered + timedelta(minutes=1),
        status=InterestStatus.GROUPED,
        group_id="group.x",
    )
    g = group(key="group.x", formed_at=registered + timedelta(days=40))
    counts = interest_counts(person, g, None, tz)
    assert set(counts) == {("2030-02", "habo"), ("2030-03", "habo")}
    assert counts[("2030-02", "habo")].registrations == 1 and counts[("2030-02", "habo")].verified == 1
    assert counts[("2030-03", "habo")].days_to_group == Counter({39: 1})
    # Joined a group formed before they registered: placed when the claim wrote their row.
    joiner = person.model_copy(update={"created_at": g.formed_at + timedelta(days=2), "verified_at": None})
    placed = g.formed_at + timedelta(days=5)
    assert interest_counts(joiner, g, placed, tz)[("2030-03", "habo")].days_to_group == Counter({3: 1})
    unverified = interest(status=InterestStatus.PENDING_VERIFICATION, verified_at=None)
    assert [c.verified for c in interest_counts(unverified, None, None, tz).values()] == [0]


def test_the_csv_has_the_agreed_columns_and_only_ids_and_counts():
    text = statistics_csv_text(
        {
            ("2030-02", "stress", "habo"): Counts(
                registrations=7, verified=6, groups_formed=1, days_to_group=Counter({3: 2, 4: 1})
            ),
            ("2030-01", "sorg", ""): Counts(registrations=1),
        }
    )
    lines = text.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1:] == ["2030-01,sorg,,1,0,0,", "2030-02,stress,habo,7,6,1,3"]


# --- the texts -------------------------------------------------------------------------------------

LONG = {
    "name": "Anna-Karin Öberg-Ståhl",
    "theme": "stress och utbrändhet",
    "organisation": "Region Jönköpings län",
    "facilitator": "Ann-Charlotte",
    "ref": "A1B2C3",
}
WHEN = {
    "sv": "onsdag 30 september kl. 18.30",
    "nb": "onsdag 30. september kl. 18.30",
    "en": "Wednesday 30 September at 18:30",
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ["meeting_set", "meeting_reminder"])
@pytest.mark.parametrize(
    "place", ["Folkets hus, Storgatan 12, rum 3", "https://meet.example/" + "a" * 180, "Å" * PLACE_MAX]
)
def test_meeting_texts_fit_three_segments_with_the_longest_place(kind: str, locale: str, place: str):
    text = Templates().sms(kind, locale, when=WHEN[locale], place=place, **LONG)
    info = segment_info(text)
    assert info.encoding == "GSM-7", text
    assert info.segments <= 3, f"{kind}/{locale}: {info.segments} segments"
    assert place in text and WHEN[locale] in text and LONG["name"] in text
    assert "STOP" in text  # every text to a resident says how to leave


@pytest.mark.parametrize("locale", LOCALES)
def test_the_check_in_fits_two_segments_and_names_no_member(locale: str):
    for coordinator_name in ("", "Anne Mette Brustuen"):
        text = Templates().sms(
            "facilitator_check_in",
            locale,
            weeks=7,
            count=8,
            coordinator="+46701234567",
            coordinator_name=coordinator_name,
            **LONG,
        )
        info = segment_info(text)
        assert info.encoding == "GSM-7" and info.segments <= 2, text
        assert "+46701234567" in text and "7" in text and coordinator_name in text
        # Not asked into the void: the reply is routed to the coordinator (sms_webhooks), and it says so.
        assert any(w in text for w in ("Svara på det här sms:et", "Svar på denne sms-en", "Reply to this text"))
