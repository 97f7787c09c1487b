"""Every kind of outbox text in one table: who receives it, which template (shared/templates/sms/
<locale>/<template>.txt) and what the template is given. Adding a kind is one entry here plus its
templates; tests/unit/test_sms_kinds.py fails for a kind without an entry or a template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from shared.core.domain import Group, GroupStatus, Interest, MessageKind, OutboxMessage, RecipientType
from shared.core.facilitators import Facilitator
from shared.core.group_life import coordinator_name_and_phone, format_day, last_sign_of_life
from shared.core.local_time import format_meeting_time
from shared.core.organisation import Organisation

if TYPE_CHECKING:
    from shared.adapters.templates import Templates


@dataclass(frozen=True)
class Draft:
    """What a renderer may use: current data, read when the text is sent."""

    message: OutboxMessage
    locale: str  # the recipient's language
    group: Group | None
    member: Interest | None  # the recipient, for texts to members
    facilitator: Facilitator | None  # the group's (texts to members) or the recipient (to facilitators)
    members: list[Interest]  # the group's current members, for texts to facilitators
    theme_phrase: str  # "om stress", "för anhöriga": the organisation file's words, never a lower-cased label
    now: datetime
    tz: tzinfo
    coordinator_phone: str
    coordinator_contact: str = ""  # for residents: the named coordinator's public phone or e-mail (core/replies.py)
    organisation: Organisation | None = None  # for the coordinator's name and the number residents dial
    facilitator_link: str = ""  # texts to a facilitator: their own page (services/facilitator_page.py)


Context = dict[str, Any] | None  # None: nothing to send any more (the text is failed as recipient_gone)


@dataclass(frozen=True)
class SmsKind:
    recipient: RecipientType
    template: str
    context: Callable[[Draft], Context]


def _invitation(d: Draft) -> Context:
    assert d.member is not None
    return {
        "name": d.member.name,
        "theme": d.theme_phrase,
        "facilitator": d.facilitator.first_name if d.facilitator else "",
    }


def _meeting(d: Draft) -> Context:
    if d.group is None or d.group.first_meeting_at is None or d.member is None:
        return None
    return {
        **(_invitation(d) or {}),
        "when": format_meeting_time(d.group.first_meeting_at, d.locale, d.tz),
        "place": d.group.meeting_place,
    }


def _to_facilitator(d: Draft) -> dict[str, Any]:
    return {"theme": d.theme_phrase, "count": len(d.members)}


def _roster(d: Draft) -> Context:
    # A new roster (a new or reassigned group) carries a fresh link to the facilitator's page.
    return {**_to_facilitator(d), "members": d.members, "link": d.facilitator_link}


def _joined(d: Draft) -> Context:
    joined = [m for m in d.members if m.key in d.message.subject_keys]
    if not joined:
        return None  # they left again before we could tell
    return {**_to_facilitator(d), "joined": joined}


def _left(d: Draft) -> Context:
    # The leaver's own row is erased; the outbox row carries their name until sent.
    return {**_to_facilitator(d), "left": d.message.subject_name or "?"}


def _check_in(d: Draft) -> Context:
    assert d.group is not None and d.facilitator is not None
    started = d.group.first_meeting_at or d.group.formed_at
    return {
        **_to_facilitator(d),
        "name": d.facilitator.first_name,
        "weeks": max(1, (d.now - started).days // 7),
        "coordinator": d.coordinator_phone,
        "coordinator_name": _coordinator(d)["coordinator"],
    }


def _coordinator(d: Draft) -> dict[str, str]:
    name, phone = coordinator_name_and_phone(d.organisation) if d.organisation else ("", d.coordinator_phone)
    return {"coordinator": name, "coordinator_phone": phone}


def _leaving(d: Draft) -> Context:
    """Handover and closing: the group, the coordinator to reach, the day the member's data leaves us."""
    if d.group is None or d.member is None or d.group.members_leave_at is None:
        return None
    return {
        **(_invitation(d) or {}),
        **_coordinator(d),
        "leave_date": format_day(d.group.members_leave_at, d.locale, d.tz),
        # Only where the scheme says so (Region Jönköpings län: the igångsättare "har fortsatt kontakt med
        # gruppen och ger stöd vid behov") is the facilitator named as the group's contact after handover.
        "facilitator_stays": bool(d.organisation and d.organisation.facilitator_stays_in_touch),
    }


def _report(d: Draft) -> Context:
    # The facilitator's note, cleaned when it was written (services/facilitator_page.py); no member data.
    return {"note": d.message.reason, "facilitator": d.message.subject_name or "?", "theme": d.theme_phrase}


def _fresh_link(d: Draft) -> Context:
    # Asked for by texting LÄNK (services/facilitator_links.py): the link only, no member data.
    if not d.facilitator_link or d.facilitator is None:
        return None
    return {"name": d.facilitator.first_name, "link": d.facilitator_link}


def _alert(d: Draft) -> Context:
    return {"reason": d.message.reason, "error_code": d.message.error_code or "", "theme": d.theme_phrase}


def _quiet(d: Draft) -> Context:
    """An active group with no meeting recorded for weeks: the coordinator gets the date it is handed over."""
    if d.group is None or d.group.quiet_handover_at is None:
        return None
    return {
        "theme": d.theme_phrase,
        "weeks": max(1, (d.now - last_sign_of_life(d.group)).days // 7),
        "handover_date": format_day(d.group.quiet_handover_at, d.locale, d.tz),
    }


# --- replies to our number (services/replies.py) ---


def forward_context(facilitator_name: str, words: str, group_key: str) -> dict[str, Any]:
    """The forward's context; services/replies.py renders it too, to cut the words to fit."""
    return {"facilitator": facilitator_name or "?", "text": words, "group": bool(group_key)}


def _facilitator_reply(d: Draft) -> Context:
    # The writer's name and words travel on the row: the facilitator may be gone or renamed by the time it is sent.
    return forward_context(d.message.subject_name, d.message.forwarded_text, d.message.group_key)


def _member_reply(d: Draft) -> Context:
    assert d.member is not None and d.group is not None
    facilitated = d.facilitator is not None and d.group.status is not GroupStatus.CLOSED
    return {
        "name": d.member.name,
        "facilitator": d.facilitator.first_name if facilitated and d.facilitator else "",
        "coordinator": d.coordinator_contact or d.coordinator_phone,
    }


KINDS: dict[MessageKind, SmsKind] = {
    MessageKind.INVITATION: SmsKind(RecipientType.MEMBER, "invitation", _invitation),
    MessageKind.MEETING_SET: SmsKind(RecipientType.MEMBER, "meeting_set", _meeting),
    MessageKind.MEETING_REMINDER: SmsKind(RecipientType.MEMBER, "meeting_reminder", _meeting),
    MessageKind.ROSTER: SmsKind(RecipientType.FACILITATOR, "roster", _roster),
    MessageKind.MEMBER_JOINED: SmsKind(RecipientType.FACILITATOR, "member_joined", _joined),
    MessageKind.MEMBER_LEFT: SmsKind(RecipientType.FACILITATOR, "member_left", _left),
    MessageKind.FACILITATOR_CHECK_IN: SmsKind(RecipientType.FACILITATOR, "facilitator_check_in", _check_in),
    MessageKind.COORDINATOR_ALERT: SmsKind(RecipientType.COORDINATOR, "coordinator_alert", _alert),
    MessageKind.FACILITATOR_REPLY: SmsKind(RecipientType.COORDINATOR, "facilitator_reply", _facilitator_reply),
    MessageKind.MEMBER_REPLY: SmsKind(RecipientType.MEMBER, "member_reply", _member_reply),
    MessageKind.HANDOVER: SmsKind(RecipientType.MEMBER, "handover", _leaving),
    MessageKind.GROUP_CLOSED: SmsKind(RecipientType.MEMBER, "group_closed", _leaving),
    MessageKind.FACILITATOR_REPORT: SmsKind(RecipientType.COORDINATOR, "facilitator_report", _report),
    MessageKind.QUIET_GROUP: SmsKind(RecipientType.COORDINATOR, "quiet_group", _quiet),
    MessageKind.FACILITATOR_LINK: SmsKind(RecipientType.FACILITATOR, "facilitator_link", _fresh_link),
}


def render(
    templates: Templates, kind: MessageKind, draft: Draft, organisation: Organisation, ref: str
) -> tuple[str, dict[str, Any]] | None:
    """The text of one outbox row as notify sends it, and the context it was made from; None when there
    is nothing to send any more."""
    entry = KINDS[kind]
    context = entry.context(draft)
    if context is None:
        return None
    text = templates.sms(entry.template, draft.locale, organisation=organisation.name, ref=ref, **context)
    return text, context
