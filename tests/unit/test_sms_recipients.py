"""Who receives each kind of text, written out here by hand and held against both the kinds table
(services/sms_kinds.py) and every place in shared/ that builds such a text (read from the source)."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.core.domain import MessageKind, RecipientType
from shared.services.sms_kinds import KINDS

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


def test_the_table_here_names_every_kind() -> None:
    assert set(RECIPIENT) == {k.name for k in MessageKind}


def test_the_kinds_table_sends_each_kind_to_its_recipient() -> None:
    assert {kind.name: spec.recipient.value for kind, spec in KINDS.items()} == RECIPIENT
    assert {t.value for t in RecipientType} >= {M, F, C}


def test_every_producer_addresses_the_kinds_recipient() -> None:
    found = producers()
    wrong = [
        f"{where}: {kind} to {recipient}, not {RECIPIENT[kind]}"
        for kind, recipient, where in found
        if recipient != RECIPIENT[kind]
    ]
    assert not wrong, "\n".join(wrong)
    # The walk sees the producers: every kind is built somewhere, most in several places.
    assert {kind for kind, _, _ in found} == set(RECIPIENT)
    assert len(found) >= 20, found
