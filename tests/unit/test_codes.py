"""Verification codes have one home, `core/codes.py`: intake makes them there, and the three places
that take one back (the resident's form, the JSON API, the operator's phone-in page) recognise them
there, so the shape cannot drift between them (issue 21.6)."""

from __future__ import annotations

import re

import pytest

from shared.core.codes import CODE_DIGITS, CODE_LIFETIME, CODE_MINUTES, looks_like_code, new_code
from tests.support.imports import ROOT

# A code made, or a code's shape checked, by hand: the patterns the copies used before issue 21.
HAND_MADE = re.compile(r"randbelow\(|len\(code\)\s*[!=]=\s*\d|code\[:\d+\]")
# The modules that take a code back from a caller.
TAKERS = ("shared/web/pages.py", "shared/web/api.py", "shared/web/admin/phone_in.py")


def test_a_new_code_is_six_ascii_digits_and_is_recognised() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) > 150  # random, not one fixed value
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    assert all(looks_like_code(code) for code in codes)


@pytest.mark.parametrize("text", ["12345", "1234567", "12345a", "١٢٣٤٥٦", "12 456", "", None, 123456])
def test_anything_else_is_not_a_code(text: object) -> None:
    assert not looks_like_code(text)


def test_the_lifetime_is_stated_in_whole_minutes() -> None:
    assert CODE_DIGITS == 6
    assert CODE_MINUTES == 10
    assert CODE_LIFETIME.total_seconds() == CODE_MINUTES * 60


def test_no_module_makes_or_checks_a_code_by_hand() -> None:
    sources = sorted(p for p in (ROOT / "shared").rglob("*.py") if p.name != "codes.py")
    assert len(sources) > 80  # the whole package was read
    by_hand = [str(p.relative_to(ROOT)) for p in sources if HAND_MADE.search(p.read_text(encoding="utf-8"))]
    assert by_hand == []


@pytest.mark.parametrize("module", TAKERS)
def test_every_taker_of_a_code_recognises_it_by_the_one_rule(module: str) -> None:
    assert "looks_like_code(code)" in (ROOT / module).read_text(encoding="utf-8")
