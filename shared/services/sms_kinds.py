"""Every text Gruppstart sends, in one registry: who receives it, which template (shared/templates/sms/
<locale>/<template>.txt) and the context it is rendered with.

- Queued texts (`KINDS`, one per `MessageKind`) are outbox rows; notify renders them when it sends, from
  current data (a `Draft`).
- Direct texts (`DIRECT`) are sent at once by the service that composes them: the verification code, the
  SMS budget's alert, the answers to texts to our number, the coordinator's notices. Each is given its own
  facts (a frozen dataclass below) and rendered here too, never by a service's own `templates.sms` call.

Adding a text is one entry here plus its template in each language (core/languages.py); a queued one also
names its `MessageKind`. tests/unit/test_sms_kinds.py walks `TEXTS`: it fails for a template missing in a
language, a template file no entry uses, or a template variable the entry's context does not feed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from shared.core.domain import Group, GroupStatus, Interest, MessageKind, OutboxMessage, RecipientType
from shared.core.facilitators import Facilitator
from shared.core.group_life import coordinator_name_and_phone, format_day, last_sign_of_life
from shared.core.local_time import format_meeting_time
from shared.core.organisation import Organisation

if TYPE_CHECKING:
    from shared.adapters.templates import Templates


class DirectRecipient(StrEnum):
    """Who a direct text goes to when it is nobody on our rows (the coordinator is `RecipientType.COORDINATOR`)."""

    APPLICANT = "applicant"  # the number a verification code is sent to (the web form or phone-in)
    WRITER = "writer"  # the number that texted ours


Recipient = RecipientType | DirectRecipient


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


Given = TypeVar("Given")  # what a text's context is made from


@dataclass(frozen=True)
class SmsText(Generic[Given]):
    """One text: its name, who receives it, its template, and the context the template is rendered with."""

    name: str
    recipient: Recipient
    template: str
    given: type[Given]  # a Draft for queued texts; the text's own facts for direct ones
    context: Callable[[Given], Context]

    @property
    def queued(self) -> bool:
        return self.given is Draft


def _queued(kind: MessageKind, recipient: RecipientType, context: Callable[[Draft], Context]) -> SmsText[Draft]:
    # A queued text's template is named after its kind: no two kinds share a text.
    return SmsText(kind.value, recipient, kind.value, Draft, context)


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


KINDS: dict[MessageKind, SmsText[Draft]] = {
    kind: _queued(kind, recipient, context)
    for kind, recipient, context in (
        (MessageKind.INVITATION, RecipientType.MEMBER, _invitation),
        (MessageKind.MEETING_SET, RecipientType.MEMBER, _meeting),
        (MessageKind.MEETING_REMINDER, RecipientType.MEMBER, _meeting),
        (MessageKind.ROSTER, RecipientType.FACILITATOR, _roster),
        (MessageKind.MEMBER_JOINED, RecipientType.FACILITATOR, _joined),
        (MessageKind.MEMBER_LEFT, RecipientType.FACILITATOR, _left),
        (MessageKind.FACILITATOR_CHECK_IN, RecipientType.FACILITATOR, _check_in),
        (MessageKind.COORDINATOR_ALERT, RecipientType.COORDINATOR, _alert),
        (MessageKind.FACILITATOR_REPLY, RecipientType.COORDINATOR, _facilitator_reply),
        (MessageKind.MEMBER_REPLY, RecipientType.MEMBER, _member_reply),
        (MessageKind.HANDOVER, RecipientType.MEMBER, _leaving),
        (MessageKind.GROUP_CLOSED, RecipientType.MEMBER, _leaving),
        (MessageKind.FACILITATOR_REPORT, RecipientType.COORDINATOR, _report),
        (MessageKind.QUIET_GROUP, RecipientType.COORDINATOR, _quiet),
        (MessageKind.FACILITATOR_LINK, RecipientType.FACILITATOR, _fresh_link),
    )
}


# --- direct texts: sent by the service that composes them, with their own facts ---


@dataclass(frozen=True)
class Code:
    """The verification code (services/intake.py), to the number being registered."""

    code: str
    minutes: int  # how long it is valid


@dataclass(frozen=True)
class BudgetSpent:
    """The SMS budget's alert (services/sms_budget.py): one share spent for a window."""

    limit: int
    daily: bool  # the day's limit, else the hour's
    minutes: int  # until the window has room again
    texts: bool  # the other texts' share, else the codes'
    spenders: Sequence[str]  # the codes' share: registration's busiest client buckets, by keyed id


@dataclass(frozen=True)
class Answer:
    """An answer to a text to our number (services/replies.py, stop_requests.py)."""

    crisis: str = ""  # the organisation's crisis lines in the reader's language (HELP)
    privacy_url: str = ""  # the privacy notice (HELP)


NoticeReason = Literal["link", "facilitator_stopped", "signature_failures", "key_conflicts", "stop_failing"]


@dataclass(frozen=True)
class Notice:
    """Something the coordinator must hear of: a facilitator's STOP (services/stop_requests.py), a STOP that
    keeps failing, refused webhook signatures (services/replies.py), phone keys in conflict
    (services/rekey.py); "link" is the flag put before a forwarded text that holds a link."""

    reason: NoticeReason
    count: int = 0  # signature_failures: the hourly threshold; key_conflicts: how many
    facilitator: str = ""  # facilitator_stopped: their name


def _facts(given: Any) -> Context:
    return {f.name: getattr(given, f.name) for f in fields(given)}


VERIFICATION: SmsText[Code] = SmsText("verification", DirectRecipient.APPLICANT, "verification", Code, _facts)
SMS_BUDGET_ALERT: SmsText[BudgetSpent] = SmsText(
    "sms_budget_alert", RecipientType.COORDINATOR, "sms_budget_alert", BudgetSpent, _facts
)
STOP_REPLY: SmsText[Answer] = SmsText("stop_reply", DirectRecipient.WRITER, "stop_reply", Answer, _facts)
HELP_REPLY: SmsText[Answer] = SmsText("help_reply", DirectRecipient.WRITER, "help_reply", Answer, _facts)
UNKNOWN_REPLY: SmsText[Answer] = SmsText("unknown_reply", DirectRecipient.WRITER, "unknown_reply", Answer, _facts)
COORDINATOR_NOTICE: SmsText[Notice] = SmsText(
    "coordinator_notice", RecipientType.COORDINATOR, "coordinator_notice", Notice, _facts
)

DIRECT: dict[str, SmsText[Any]] = {
    text.name: text
    for text in (VERIFICATION, SMS_BUDGET_ALERT, STOP_REPLY, HELP_REPLY, UNKNOWN_REPLY, COORDINATOR_NOTICE)
}
ANSWERS: dict[str, SmsText[Answer]] = {text.name: text for text in (STOP_REPLY, HELP_REPLY, UNKNOWN_REPLY)}

# Every text, queued and direct.
TEXTS: tuple[SmsText[Any], ...] = (*KINDS.values(), *DIRECT.values())


# --- rendering ---


def render_text(
    templates: Templates, text: SmsText[Given], given: Given, locale: str, organisation: Organisation, ref: str = ""
) -> tuple[str, dict[str, Any]] | None:
    """The text as it is sent, and the context it was made from; None when there is nothing to send any more.
    Every template is given the organisation's name; a queued one also the group's short reference."""
    context = text.context(given)
    if context is None:
        return None
    common: dict[str, Any] = {"organisation": organisation.name}
    if text.queued:
        common["ref"] = ref
    return templates.sms(text.template, locale, **common, **context), context


def compose(templates: Templates, text: SmsText[Given], given: Given, locale: str, organisation: Organisation) -> str:
    """A direct text, ready for the sender."""
    rendered = render_text(templates, text, given, locale, organisation)
    if rendered is None:  # a direct text's facts are all it needs; only a queued one can find its subject gone
        raise ValueError(f"{text.name}: nothing to send")
    return rendered[0]


def render(
    templates: Templates, kind: MessageKind, draft: Draft, organisation: Organisation, ref: str
) -> tuple[str, dict[str, Any]] | None:
    """The text of one outbox row as notify sends it, and the context it was made from; None when there
    is nothing to send any more."""
    return render_text(templates, KINDS[kind], draft, draft.locale, organisation, ref)


def render_forward(
    templates: Templates,
    organisation: Organisation,
    locale: str,
    facilitator_name: str,
    words: str,
    group_key: str,
    ref: str,
) -> str:
    """The forward of a facilitator's words as notify will send it (services/replies.py cuts the words to fit)."""
    context = forward_context(facilitator_name, words, group_key)
    entry = KINDS[MessageKind.FACILITATOR_REPLY]
    return templates.sms(entry.template, locale, organisation=organisation.name, ref=ref, **context)
