"""Every outbox text kind has an entry in the registry and a template in every language: a new kind
cannot silently render as another (the invitation, as it once would have)."""

from __future__ import annotations

import pytest

from shared import PACKAGE_DIR
from shared.core.domain import MessageKind, RecipientType
from shared.core.i18n import LOCALES
from shared.services.sms_kinds import KINDS


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("locale", LOCALES)
def test_every_kind_has_a_renderer_and_a_template_in_every_language(kind: MessageKind, locale: str):
    assert kind in KINDS, f"{kind.value}: no entry in services/sms_kinds.KINDS"
    template = PACKAGE_DIR / "templates" / "sms" / locale / f"{KINDS[kind].template}.txt"
    assert template.is_file(), f"{kind.value}: no template {template.name} in {locale}"
    assert template.read_text(encoding="utf-8").strip()


def test_kinds_render_their_own_template_and_name_their_recipient():
    # Each kind has its own text: no two kinds share a template (the invitation is nobody's fallback).
    templates = [k.template for k in KINDS.values()]
    assert len(templates) == len(set(templates))
    assert {KINDS[k].recipient for k in (MessageKind.INVITATION, MessageKind.MEETING_SET)} == {RecipientType.MEMBER}
    assert KINDS[MessageKind.COORDINATOR_ALERT].recipient is RecipientType.COORDINATOR
    assert set(KINDS) == set(MessageKind), "an entry for a kind that no longer exists"
