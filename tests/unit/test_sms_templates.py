"""Every SMS template, in every language, with long realistic values: how many segments it costs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.adapters.templates import Templates
from shared.core.i18n import LOCALES
from shared.core.sms_segments import segment_info

TEMPLATES = Path(__file__).resolve().parents[2] / "shared" / "templates" / "sms"
LONG_ORG = "Region Jönköpings län"  # longer than most: Aurskog-Høland kommune is 22
LONG_NAME = "Anna-Karin Öberg-Ståhl"  # a long first name + alias is 40 characters at most; this is 22
LONG_THEME = "stress och utbrändhet"


def member(i: int) -> SimpleNamespace:
    return SimpleNamespace(name=f"Maria-Louise {i}", phone=f"+4670174{i:04d}")


# Realistic worst cases per kind; a new template must be added here (the test below insists).
CONTEXTS = {
    "verification": {"code": "123456", "organisation": LONG_ORG, "minutes": 10},
    "invitation": {"name": LONG_NAME, "theme": LONG_THEME, "facilitator": "Ann-Charlotte", "organisation": LONG_ORG},
    "roster": {
        "ref": "A1B2C3",
        "theme": LONG_THEME,
        "members": [member(i) for i in range(5)],
        "organisation": LONG_ORG,
    },
    "member_joined": {
        "ref": "A1B2C3",
        "theme": LONG_THEME,
        "joined": [member(1), member(2)],
        "count": 8,
        "organisation": LONG_ORG,
    },
    "member_left": {"ref": "A1B2C3", "theme": LONG_THEME, "left": LONG_NAME, "count": 7, "organisation": LONG_ORG},
    "coordinator_alert": {"ref": "A1B2C3", "theme": LONG_THEME, "reason": "failed", "error_code": 21211},
    "sms_budget_alert": {"limit": 100000, "daily": True, "minutes": 1440},
}


def kinds() -> list[str]:
    return sorted({p.stem for p in (TEMPLATES / "sv").glob("*.txt")})


def test_every_kind_exists_in_every_language():
    for locale in LOCALES:
        assert sorted(p.stem for p in (TEMPLATES / locale).glob("*.txt")) == kinds()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_each_text_fits_three_segments(kind: str, locale: str):
    text = Templates().sms(kind, locale, **CONTEXTS[kind])
    info = segment_info(text)
    assert info.encoding == "GSM-7", f"{kind}/{locale} would be sent as UCS-2 (costs 2-3x): {text!r}"
    assert info.segments <= 3, f"{kind}/{locale}: {info.segments} segments"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("reason", ["awaiting_facilitator", "undelivered", "failed"])
def test_coordinator_alerts_fit_one_segment(locale: str, reason: str):
    text = Templates().sms("coordinator_alert", locale, **{**CONTEXTS["coordinator_alert"], "reason": reason})
    assert segment_info(text).segments == 1
    assert "+46" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_a_roster_of_eight_is_three_segments_and_four_with_the_longest_names(locale: str):
    """A full group's roster is the one text allowed past three segments."""
    typical = {**CONTEXTS["roster"], "members": [member(i) for i in range(8)]}
    text = Templates().sms("roster", locale, **typical)
    assert all(f"{m.name} {m.phone}" in text for m in typical["members"])
    assert segment_info(text).segments == 3
    longest = [SimpleNamespace(name="Å" * 40, phone=f"+4670174{i:04d}") for i in range(8)]  # names are <= 40
    assert segment_info(Templates().sms("roster", locale, **{**typical, "members": longest})).segments == 4


def test_values_are_data_not_template_code():
    text = Templates().sms("invitation", "sv", **{**CONTEXTS["invitation"], "name": "{{7*7}}<b>"})
    assert "{{7*7}}<b>" in text and "49" not in text


def test_every_template_has_a_realistic_context_here():
    """Other tests render these; a template added without a worst case here would go unmeasured."""
    missing = [k for k in kinds() if k not in CONTEXTS and k not in KNOWN_ELSEWHERE]
    assert missing == []


# Kinds whose worst cases are measured in their own feature's tests.
KNOWN_ELSEWHERE = {
    "stop_reply",
    "help_reply",
    "unknown_reply",
    "meeting_set",
    "meeting_reminder",
    "facilitator_check_in",
}
