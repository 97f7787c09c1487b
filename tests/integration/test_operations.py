"""Operators' actions against Azurite, with the texts they cause sent through the registered notify
function, the real twilio SDK and the loopback Twilio server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.functions.timer import TimerRequest

from shared.adapters.entities import entity_of
from shared.adapters.sms.twilio import TwilioSender
from shared.composition import Services, use_services
from shared.core.domain import (
    INTEREST_PREFIX,
    GroupStatus,
    Interest,
    InterestStatus,
    MessageKind,
    MessageStatus,
    utcnow,
)
from shared.core.local_time import format_meeting_time, organisation_tz
from shared.core.validation import ValidInterest
from shared.local.runner import LocalHost, QueueRules, indexed_functions
from shared.services.facilitators import FacilitatorPatch
from shared.services.notify import short_ref
from shared.services.operations_base import OperationError
from tests.conftest import municipality
from tests.support.privacy import csv_rows, number_needles, traces
from tests.support.tables import THEME, add_facilitator, groups, outbox, seed_waiting, verified
from tests.support.twilio_server import LoopbackTwilio

FAST = QueueRules(max_dequeue_count=3, visibility_timeout=1, batch_size=8, max_polling_interval=0.1)
EVA_PHONE = "+46701740611"
NILS_PHONE = "+46701740612"


# --- helpers shared with test_retention ----------------------------------------------------------------


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio() as server:
        yield server


@pytest.fixture
def wired(make_services, twilio: LoopbackTwilio) -> Iterator[tuple[Services, LocalHost]]:
    """Services sending through the loopback server; a host that runs only the notify functions, so
    formation happens exactly when a test calls it."""
    import function_app

    sender = TwilioSender(twilio.account_sid, twilio.auth_token, from_="+46700000001", api_base_url=twilio.base_url)
    # These tests read one row per theme: the region without its near-first area matching.
    organisation = {**municipality("region-jonkoping")["organisation"], "match_by_area": False, "area_wait_days": None}
    services = make_services(organisation, sender=sender, SMS_RATE_PER_SECOND="1000")
    use_services(services)
    host = LocalHost(
        function_app.app,
        services.storage,
        settings=services.settings,
        rules=FAST,
        only={"send_notification", "record_poisoned_notification"},
    )
    yield services, host
    use_services(None)


@pytest.fixture
def local(services: Services) -> Iterator[tuple[Services, LocalHost]]:
    """Services with the local outbox sender (intake's codes are read from it), and the notify host."""
    import function_app

    use_services(services)
    host = LocalHost(
        function_app.app,
        services.storage,
        settings=services.settings,
        rules=FAST,
        only={"send_notification", "record_poisoned_notification"},
    )
    yield services, host
    use_services(None)


def formed(services: Services, n: int = 5, *, facilitator: bool = True):
    """n waiting people formed into one group, with Eva as facilitator or awaiting one."""
    eva = add_facilitator(services, name="Eva Lind", phone=EVA_PHONE) if facilitator else None
    seed_waiting(services, n)
    services.formation.form_theme(THEME)
    [group] = groups(services)
    return group, eva


def members_by_phone(services: Services, group_id: str) -> dict[str, str]:
    view = services.operations.group(group_id)
    assert view is not None
    return {m.phone: m.name for m in view.members}


# --- overview and reading -----------------------------------------------------------------------------------


def test_the_overview_counts_who_waits_what_is_needed_and_groups_by_status(wired):
    services, _host = wired
    seed_waiting(services, 3)
    themes, failed = services.operations.overview()
    assert [t.theme for t in themes] == [t.id for t in services.organisation.themes]  # one row per theme here
    stress = next(t for t in themes if t.theme == THEME)
    assert (stress.waiting, stress.needed, stress.forming, stress.active, stress.awaiting_facilitator) == (
        3,
        2,
        0,
        0,
        0,
    )
    assert stress.area is None and failed == []

    table = services.storage.table("interests")
    now = utcnow()
    for i in range(2):  # two more: five form a group, which awaits a facilitator (there is none)
        table.create_entity(
            entity_of(
                Interest(
                    theme=THEME,
                    key=f"{INTEREST_PREFIX}{i + 100:024x}",
                    name=f"Extra {i}",
                    phone=f"+4670200000{i}",
                    locale="sv",
                    status=InterestStatus.WAITING,
                    consent_version="t",
                    created_at=now,
                    verified_at=now,
                    withdraw_token_hash="x",
                )
            )
        )
    services.formation.form_theme(THEME)
    stress = next(t for t in services.operations.overview()[0] if t.theme == THEME)
    assert (stress.waiting, stress.needed, stress.awaiting_facilitator) == (0, 5, 1)


def test_an_organisation_matching_by_area_sees_each_theme_per_area(make_services):
    doc = {**municipality("region-jonkoping")["organisation"], "match_by_area": True}
    services = make_services(doc)
    seed_waiting(services, 3)  # in Habo
    themes, _failed = services.operations.overview()
    areas = [a.id for a in services.organisation.areas]
    assert [(t.theme, t.area) for t in themes] == [(th.id, a) for th in services.organisation.themes for a in areas]
    habo = next(t for t in themes if (t.theme, t.area) == (THEME, "habo"))
    assert (habo.waiting, habo.needed) == (3, 2)
    assert all(t.waiting == 0 and t.needed == 5 for t in themes if t is not habo)


def test_groups_can_be_listed_by_theme_and_status_and_bad_filters_are_refused(wired):
    services, _host = wired
    group, eva = formed(services)
    ops = services.operations
    [view] = ops.groups()
    assert view.id == group.id and view.status == "forming" and view.facilitator_name == "Eva Lind"
    assert len(view.members) == 5 and all(m.id.startswith(f"{THEME}.") for m in view.members)
    assert [g.id for g in ops.groups(theme=THEME, status="forming")] == [group.id]
    assert ops.groups(theme="anhorig") == [] and ops.groups(status="closed") == []
    for bad in ({"theme": "nope"}, {"status": "done"}, {"theme": "' or 1 eq 1"}):
        with pytest.raises(OperationError) as caught:
            ops.groups(**bad)
        assert caught.value.code == "invalid_filter"
    assert ops.group(group.id) == view
    hex_part = group.key.split(".", 1)[1]
    for missing in ("nope", f"{THEME}.{'0' * 24}", f"anhorig.{hex_part}", f"{THEME}.{hex_part}x", group.key, ""):
        assert ops.group(missing) is None
    assert ops.facilitator_loads() == {eva.id: 1}


# --- facilitators -------------------------------------------------------------------------------------------


def test_a_first_facilitator_invites_everyone_and_a_new_one_gets_the_roster(wired, twilio):
    services, host = wired
    add_facilitator(services, name="Nobody Trained", phone="+46701740619", themes=["anhorig"])
    group, _ = formed(services, facilitator=False)
    assert group.status is GroupStatus.AWAITING_FACILITATOR
    host.run_until_idle()  # the coordinator hears the group waits
    coordinator = services.organisation.coordinator_phone
    assert [m.to for m in twilio.accepted] == [coordinator]

    eva = add_facilitator(services, name="Eva Lind", phone=EVA_PHONE, themes=[THEME])
    view = services.operations.assign_facilitator(group.id, eva.id)
    assert view.status == "forming" and view.facilitator_id == eva.id and view.facilitator_name == "Eva Lind"
    host.run_until_idle()
    phones = members_by_phone(services, group.id)
    texts = {m.to: m.body for m in twilio.accepted[1:]}
    assert set(texts) == {*phones, EVA_PHONE}
    for phone, name in phones.items():
        assert texts[phone].startswith(f"Hej {name}!") and "Eva" in texts[phone]
        assert f"{name} {phone}" in texts[EVA_PHONE]

    nils = add_facilitator(services, name="Nils Berg", phone=NILS_PHONE)
    before = len(twilio.accepted)
    view = services.operations.assign_facilitator(group.id, nils.id)
    assert view.facilitator_id == nils.id and view.status == "forming"
    host.run_until_idle()
    [roster] = twilio.accepted[before:]
    assert roster.to == NILS_PHONE and all(f"{n} {p}" in roster.body for p, n in phones.items())
    assert services.operations.facilitator_loads() == {eva.id: 0, nils.id: 1, **_others(services, eva.id, nils.id)}

    services.operations.assign_facilitator(group.id, nils.id)  # already so: nothing changes, nothing sent
    host.run_until_idle()
    assert len(twilio.accepted) == before + 1


def _others(services: Services, *ids: str) -> dict[str, int]:
    return {f.id: 0 for f in services.facilitators.list() if f.id not in ids}


def test_assigning_refuses_unknown_inactive_full_or_unsuited_facilitators(wired):
    services, _host = wired
    group, eva = formed(services)  # Eva runs it; capacity 3
    ops = services.operations
    for bad in ("nope", "../x", "", "a" * 41):
        with pytest.raises(OperationError) as caught:
            ops.assign_facilitator(group.id, bad)
        assert caught.value.code == "facilitator_not_found"
    with pytest.raises(OperationError) as caught:
        ops.assign_facilitator("stress.nope", eva.id)
    assert caught.value.code == "not_found"

    def refused(facilitator_id: str) -> str:
        with pytest.raises(OperationError) as caught:
            ops.assign_facilitator(group.id, facilitator_id)
        assert caught.value.code == "facilitator_unavailable"
        return caught.value.detail

    resting = add_facilitator(services, name="Vila Paus", phone="+46701740613")
    services.facilitators.update(resting.id, FacilitatorPatch(active=False))
    assert refused(resting.id) == "inactive"
    assert refused(add_facilitator(services, name="Bara Sorg", phone="+46701740614", themes=["anhorig"]).id) == "theme"
    assert refused(add_facilitator(services, name="Only English", phone="+46701740615", locales=["en"]).id) == "locale"
    # A facilitator with room for one group, given one (a sorg group that nobody active could take).
    services.facilitators.update(eva.id, FacilitatorPatch(active=False))
    seed_waiting(services, 5, theme="anhorig")
    services.formation.form_theme("anhorig")
    [sorg_group] = groups(services, "anhorig")
    full = add_facilitator(services, name="Full Kapacitet", phone="+46701740616", capacity=1)
    ops.assign_facilitator(sorg_group.id, full.id)
    assert ops.facilitator_loads()[full.id] == 1
    assert refused(full.id) == "capacity"

    ops.close_group(group.id)
    with pytest.raises(OperationError) as caught:
        ops.assign_facilitator(group.id, full.id)
    assert (caught.value.code, caught.value.detail) == ("invalid_state", "closed")


# --- the first meeting ---------------------------------------------------------------------------------------


def test_setting_the_first_meeting_activates_the_group_and_texts_every_member(wired, twilio):
    services, host = wired
    group, _eva = formed(services)
    host.run_until_idle()
    before = len(twilio.accepted)
    when = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)

    view = services.operations.set_first_meeting(group.id, when, "  Folkets hus,\nrum 3 ")

    assert view.status == "active" and view.first_meeting_at == when and view.meeting_place == "Folkets hus, rum 3"
    host.run_until_idle()
    texts = {m.to: m.body for m in twilio.accepted[before:]}
    phones = members_by_phone(services, group.id)
    assert set(texts) == set(phones)  # the members, not the facilitator
    shown = format_meeting_time(when, "sv", organisation_tz(services.organisation))
    for phone, name in phones.items():
        assert texts[phone].startswith(f"Hej {name}!")
        assert shown in texts[phone] and "Folkets hus, rum 3" in texts[phone] and "STOPP" in texts[phone]
    meeting_rows = [m for m in outbox(services) if m.kind is MessageKind.MEETING_SET]
    assert len(meeting_rows) == 5 and {m.status for m in meeting_rows} == {MessageStatus.SENT}

    # Moved: everyone hears the new time, and the day-before reminder is due again.
    later = when + timedelta(days=1)
    services.operations.set_first_meeting(group.id, later, "https://meet.example/grupp")
    host.run_until_idle()
    moved = twilio.accepted[before + 5 :]
    assert len(moved) == 5 and all("https://meet.example/grupp" in m.body for m in moved)
    [row] = groups(services)
    assert row.first_meeting_at == later and row.reminder_sent is False


def test_a_first_meeting_needs_a_facilitator_a_future_time_and_a_clean_place(wired):
    services, _host = wired
    group, _ = formed(services, facilitator=False)
    ops = services.operations
    soon = utcnow() + timedelta(days=2)
    with pytest.raises(OperationError) as caught:
        ops.set_first_meeting(group.id, soon, "Folkets hus")
    assert (caught.value.code, caught.value.detail) == ("invalid_state", "awaiting_facilitator")
    for when, place, detail in [
        (utcnow() - timedelta(minutes=1), "Folkets hus", "past"),
        (utcnow() + timedelta(days=400), "Folkets hus", "too_far"),
        (soon.replace(tzinfo=None), "Folkets hus", "time_required"),
        (soon, "x" * 201, "place_too_long"),
        (soon, "Folkets\x07hus", "place_invalid"),
        (soon, "", "place_required"),
    ]:
        with pytest.raises(OperationError) as caught:
            ops.set_first_meeting(group.id, when, place)
        assert (caught.value.code, caught.value.detail) == ("invalid_meeting", detail)
    with pytest.raises(OperationError) as caught:
        ops.set_first_meeting(f"{THEME}.{'0' * 24}", soon, "Folkets hus")
    assert caught.value.code == "not_found"


# --- members and closing ----------------------------------------------------------------------------------


def test_removing_a_member_erases_them_and_tells_the_facilitator(wired, twilio):
    services, host = wired
    group, _ = formed(services, n=6)
    host.run_until_idle()
    view = services.operations.group(group.id)
    assert view is not None
    leaver = view.members[2]
    stats_before = services.operations.statistics_csv()
    before = len(twilio.accepted)

    after = services.operations.remove_member(group.id, leaver.id)

    assert [m.id for m in after.members] == [m.id for m in view.members if m.id != leaver.id]
    host.run_until_idle()
    [update] = twilio.accepted[before:]
    assert update.to == EVA_PHONE and leaver.name in update.body and "Nu är det 5 i gruppen" in update.body
    assert traces(services, number_needles(leaver.phone) | {leaver.name}) == []
    assert services.operations.statistics_csv() == stats_before  # the registration still counts
    with pytest.raises(OperationError) as caught:
        services.operations.remove_member(group.id, leaver.id)
    assert caught.value.code == "not_found"
    for bad in ("nope", f"anhorig.{leaver.key.split('.', 1)[1]}", after.members[0].key):
        with pytest.raises(OperationError):
            services.operations.remove_member(group.id, bad)


def test_closing_a_group_withdraws_unsent_texts_to_its_members(wired, twilio):
    services, host = wired
    group, _ = formed(services)  # invitations and the roster written, not yet sent
    view = services.operations.close_group(group.id)
    assert view.status == "closed" and view.closed_at is not None and len(view.members) == 5
    assert [m.kind for m in outbox(services)] == [MessageKind.ROSTER]
    host.run_until_idle()
    assert [m.to for m in twilio.accepted] == [EVA_PHONE]
    assert services.operations.close_group(group.id) == view  # closing again changes nothing
    with pytest.raises(OperationError) as caught:
        services.operations.set_first_meeting(group.id, utcnow() + timedelta(days=1), "Folkets hus")
    assert caught.value.code == "invalid_state"
    assert services.operations.facilitator_loads()[view.facilitator_id or ""] == 0


# --- failed messages ------------------------------------------------------------------------------------------


def test_a_failed_text_is_listed_without_personal_data_and_can_be_retried(wired, twilio):
    services, host = wired
    bad_number = "+46701000002"  # the third seeded person
    twilio.reject_numbers({bad_number: 21211})
    group, _ = formed(services)
    host.run_until_idle()
    _themes, failed = services.operations.overview()
    [item] = failed
    assert (item.theme, item.kind, item.status, item.error) == (THEME, "invitation", "failed", "provider_21211")
    assert item.group_ref == short_ref(group.key)
    assert bad_number not in repr(item) and bad_number[3:] not in repr(item) and "Person" not in repr(item)

    twilio.reset()  # the number works again
    services.operations.retry_message(item.theme, item.row)
    host.run_until_idle()
    assert [m.to for m in twilio.accepted] == [bad_number]
    assert services.operations.overview()[1] == []
    with pytest.raises(OperationError) as caught:
        services.operations.retry_message(item.theme, item.row)
    assert (caught.value.code, caught.value.detail) == ("invalid_state", "sent")
    for theme, row in [
        (THEME, "outbox.000000000000000000000000"),
        ("nope", item.row),
        (THEME, "interest.x"),
        (THEME, ""),
    ]:
        with pytest.raises(OperationError) as caught:
            services.operations.retry_message(theme, row)
        assert caught.value.code == "not_found"


# --- statistics and data-subject requests ---------------------------------------------------------------------


def test_the_statistics_csv_counts_and_names_nobody(local):
    services, _host = local
    add_facilitator(services, name="Eva Lind", phone=EVA_PHONE)
    verified(services, 5)  # through intake: registered, verified, rate-limited
    services.formation.form_theme(THEME)
    text = services.operations.statistics_csv()
    rows = csv_rows(text)
    assert list(rows[0]) == [
        "month",
        "theme",
        "area",
        "registrations",
        "verified",
        "groups_formed",
        "median_days_to_group",
    ]
    month = utcnow().astimezone(organisation_tz(services.organisation)).strftime("%Y-%m")
    assert [r for r in rows if r["theme"] == THEME] == [
        {
            "month": month,
            "theme": THEME,
            "area": "habo",
            "registrations": "5",
            "verified": "5",
            "groups_formed": "1",
            "median_days_to_group": "0",
        }
    ]
    for person in services.operations.group(groups(services)[0].id).members:  # type: ignore[union-attr]
        assert person.name not in text and person.phone not in text and person.phone[3:] not in text
    assert "Eva" not in text and "+46" not in text


def test_a_person_can_be_exported_and_erased_by_number_and_nothing_is_left(local, caplog):
    services, host = local
    caplog.set_level(logging.DEBUG)
    add_facilitator(services, name="Eva Lind", phone=EVA_PHONE)
    verified(services, 4)
    name, phone = "Ylva Quennerstedt", "+46735510003"
    for theme in (THEME, "anhorig"):
        reg = services.intake.register(
            ValidInterest(theme=theme, name=name, phone=phone, locale="sv", area="habo"), client_address="203.0.113.9"
        )
        code = services.sender.messages()[-1].body.split()[0]  # type: ignore[attr-defined]
        services.intake.verify(reg.interest_id, code)
    services.formation.form_theme(THEME)
    host.run_until_idle()

    exported = services.operations.export_person("073-551 00 03")  # as a person would say it
    assert exported["phone"] == phone
    assert sorted(i["theme"] for i in exported["interests"]) == ["anhorig", THEME]
    assert {i["name"] for i in exported["interests"]} == {name}
    [grouped] = [i for i in exported["interests"] if i["status"] == "grouped"]
    assert [g["id"] for g in exported["groups"]] == [grouped["group"]]
    assert {m["kind"] for m in exported["messages"]} == {"invitation"}
    assert exported["rate_limits"]
    json.dumps(exported)  # ready to hand over as a file
    stats_before = services.operations.statistics_csv()

    erased = services.operations.erase_person(phone)

    assert erased >= 4  # two interests, two markers, their texts and counters
    host.run_until_idle()  # the facilitator hears someone left; the name leaves the outbox once sent
    assert traces(services, number_needles(phone) | {name}) == []
    assert services.operations.statistics_csv() == stats_before
    assert services.operations.export_person(phone)["interests"] == []
    assert not number_needles(phone) & set(caplog.text.split()) and phone not in caplog.text
    assert name not in caplog.text and "Medlem" not in caplog.text and "Person " not in caplog.text
    for bad in ("", "123", "not a number", None):
        with pytest.raises(OperationError) as caught:
            services.operations.erase_person(bad)  # type: ignore[arg-type]
        assert caught.value.code == "invalid_phone"


# --- the lifecycle timer, registered -------------------------------------------------------------------------


def test_the_lifecycle_timer_is_registered_and_reminds_members_the_day_before(wired, twilio):
    services, host = wired
    import function_app

    [function] = [f for f in indexed_functions(function_app.app) if f.get_function_name() == "run_lifecycle"]
    binding = json.loads(function.get_function_json())["bindings"][0]
    assert binding["type"] == "timerTrigger" and binding["schedule"] == "%LIFECYCLE_SCHEDULE%"
    assert binding["runOnStartup"] is False and binding["useMonitor"] is True
    every = LocalHost(function_app.app, services.storage, settings=services.settings, rules=FAST)
    assert any(t.name == "run_lifecycle" and t.schedule == "0 0 7 * * *" for t in every.timers)

    group, _ = formed(services)
    services.operations.set_first_meeting(group.id, utcnow() + timedelta(hours=3), "Folkets hus")
    host.run_until_idle()
    before = len(twilio.accepted)
    function.get_user_function()(TimerRequest(past_due=False))
    function.get_user_function()(TimerRequest(past_due=False))  # once only
    host.run_until_idle()
    reminders = twilio.accepted[before:]
    assert sorted(m.to for m in reminders) == sorted(members_by_phone(services, group.id))
    assert all(m.body.startswith("Hej ") and "Glöm inte" in m.body and "Folkets hus" in m.body for m in reminders)
