"""Verification codes: their shape and lifetime, one home for intake, the web forms and retention."""

from __future__ import annotations

import secrets
from datetime import timedelta

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
# What the verification text and the privacy notice promise: the same constant, in whole minutes.
CODE_MINUTES = CODE_LIFETIME // timedelta(minutes=1)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def looks_like_code(text: object) -> bool:
    """Six ASCII digits — checked before any storage is read, so junk never costs a lookup."""
    return isinstance(text, str) and len(text) == CODE_DIGITS and text.isascii() and text.isdigit()
