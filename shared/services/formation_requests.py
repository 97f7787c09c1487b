"""The formation-requests queue's contract, both ends: a message asks to form groups in one theme now.

Written by intake after a verification, read by the queue trigger `form_groups_on_request`
(functions/formation.py); this module is the one place that knows its form:

    {"theme": "<theme id>"}

Versions before this one queued the bare theme id (`anhorig`); a message of theirs may still wait in
the queue after a deploy, so it is read too. Anything else is `FormationRequestError`: the trigger
drops it (retrying cannot fix it, and the timer sweep forms every theme's groups anyway), as it drops
a theme the organisation no longer offers.
"""

from __future__ import annotations

import json
import re

from shared.core.organisation import SLUG_PATTERN

_THEME_ID = re.compile(SLUG_PATTERN)


class FormationRequestError(ValueError):
    """A queue message that names no theme."""


def formation_request(theme: str) -> str:
    """The queue message asking to form groups in `theme`."""
    if not _THEME_ID.fullmatch(theme):
        raise ValueError("not a theme id")
    return json.dumps({"theme": theme}, separators=(",", ":"))


def parse_formation_request(text: str) -> str:
    """The theme a message names, in either form; FormationRequestError for anything else."""
    text = text.strip()
    if _THEME_ID.fullmatch(text):  # a bare id, as earlier versions queued it
        return text
    try:
        data = json.loads(text)
        theme = data["theme"]
    except (ValueError, KeyError, TypeError):
        raise FormationRequestError("not a formation request") from None
    if not isinstance(theme, str) or not _THEME_ID.fullmatch(theme):
        raise FormationRequestError("not a formation request")
    return theme
