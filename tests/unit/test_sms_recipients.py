"""Who receives each text: the registry (services/sms_kinds.py) is held against every place in shared/ that
builds an outbox row or sends a direct text (read from the source), and the kinds where a wrong recipient
would leak (names and numbers, a facilitator's words) are written out here by hand as well."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.core.domain import MessageKind, RecipientType
from shared.services import sms_kinds
from shared.services.sms_kinds import DIRECT, KINDS, DirectRecipient

ROOT = Path(__file__).resolve().parents[2]

M, F, C = "member", "facilitator", "coordinator"
RECIPIENT = {
    "INVITATION": M,
    "MEETING_SET": M,
    "MEETING_REMINDER": M,
    "MEMBER_REPLY": M,
    "HANDOVER": M,
    "GROUP_CLOSED": M,
    "ROSTER": F,
    "MEMBER_JOINED": F,
    "MEMBER_LEFT": F,
    "FACILITATOR_CHECK_IN": F,
    "FACILITATOR_LINK": F,  # a fresh page link, to the facilitator who texted LÄNK
    "COORDINATOR_ALERT": C,
    "FACILITATOR_REPLY": C,  # a facilitator's words go to the coordinator, never back to a facilitator
    "FACILITATOR_REPORT": C,
    "QUIET_GROUP": C,  # an active group with no meeting recorded for weeks, reported to the coordinator
}
HELPERS = {"to_members": M, "to_facilitator": F}  # core/domain.py: the recipient is in the helper's name


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def producers() -> list[tuple[str, str, str]]:
    """(kind, recipient, where) for each text built in shared/: helper calls and new_message(...) calls."""
    found = []
    for path in sorted((ROOT / "shared").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = dotted(node.func).rpartition(".")[2]
            kinds = [dotted(a) for a in node.args if dotted(a).startswith("MessageKind.")]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name in HELPERS and kinds:
                found.append((kinds[0].partition(".")[2], HELPERS[name], where))
            elif name == "to_coordinator":
                found.append(("COORDINATOR_ALERT", C, where))
            elif name == "new_message" and kinds:
                types = [dotted(a) for a in node.args if dotted(a).startswith("RecipientType.")]
                types += [dotted(k.value) for k in node.keywords if k.arg == "recipient_type"]
                assert types, f"{where}: new_message without a literal RecipientType"
                found.append((kinds[0].partition(".")[2], types[0].partition(".")[2].lower(), where))
    return found


def registered(kind: str) -> str:
    return KINDS[MessageKind[kind]].recipient.value


def test_the_registry_sends_each_kind_here_to_its_recipient() -> None:
    # A new kind needs no line here: the producers below are held against the registry.
    assert {kind: registered(kind) for kind in RECIPIENT} == RECIPIENT
    assert len(RECIPIENT) == 15
    assert {t.value for t in RecipientType} >= {M, F, C}


def test_every_producer_addresses_the_kinds_recipient() -> None:
    found = producers()
    wrong = [
        f"{where}: {kind} to {recipient}, not {registered(kind)}"
        for kind, recipient, where in found
        if recipient != registered(kind)
    ]
    assert not wrong, "\n".join(wrong)
    # The walk sees the producers: every kind is built somewhere, most in several places.
    assert {kind for kind, _, _ in found} == {k.name for k in MessageKind}
    assert len(found) >= 20, found


# --- direct texts: composed and sent by one function ---------------------------------------------------

# The registry's direct entries by the names services import them as; ANSWERS holds the three answers.
CONSTANTS = {
    name: value
    for name, value in vars(sms_kinds).items()
    if isinstance(value, sms_kinds.SmsText) and value.name in DIRECT
}


def direct_senders() -> list[tuple[str, str, list[str]]]:
    """(entry, where, first arguments of its function's .send calls) for each function composing a direct text."""
    found = []
    for path in sorted((ROOT / "shared" / "services").rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef):
                continue
            calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
            sends = [dotted(c.args[0]) for c in calls if dotted(c.func).endswith(".send") and c.args]
            for call in calls:
                if dotted(call.func) != "compose" or len(call.args) < 2:
                    continue
                entry = call.args[1]
                name = dotted(entry.value) if isinstance(entry, ast.Subscript) else dotted(entry)
                found.append((name, f"{path.relative_to(ROOT)}:{call.lineno}", sends))
    return found


def test_every_direct_text_is_sent_to_its_recipient() -> None:
    found = direct_senders()
    wrong = []
    for name, where, sends in found:
        if name == "ANSWERS":  # stop, help, "not read": to whoever wrote
            recipients = {e.recipient for e in sms_kinds.ANSWERS.values()}
        else:
            assert name in CONSTANTS, f"{where}: composes {name}, not a registry entry"
            recipients = {CONSTANTS[name].recipient}
        for to in sends:
            to_coordinator = to.endswith("coordinator_phone")
            if to_coordinator != (recipients == {RecipientType.COORDINATOR}):
                wrong.append(f"{where}: {name} sent to {to}, registered for {sorted(recipients)}")
    assert not wrong, "\n".join(wrong)
    # Every direct text is composed somewhere; the walk saw the sites (code, budget, answers, 5 notices).
    assert {n for n, _, _ in found} - {"ANSWERS"} | {e.name.upper() for e in sms_kinds.ANSWERS.values()} == {
        n for n, e in CONSTANTS.items()
    }
    assert sum(1 for _, _, sends in found if sends) >= 7, found  # 7 when this was written
    assert {e.recipient for e in DIRECT.values()} == {RecipientType.COORDINATOR, *DirectRecipient}
