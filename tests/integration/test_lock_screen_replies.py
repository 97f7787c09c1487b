"""Issue 20.4 and 20.5 for the texts Twilio's webhook answers with (HELP, STOP, anything from an unknown
number) and the verification code: rendered by the app itself, in sv, nb and en by the sender's country.
Each opens with the organisation, keeps the group word off the lock screen, and where STOP is offered
says that it deletes every registration."""

from __future__ import annotations

import pytest

from shared.composition import Services
from tests.integration.test_sms_webhooks import http, inbound, reply_text, wired  # noqa: F401 - fixtures

LOCK_SCREEN = 150
GROUP_WORDS = ("självhjälpsgrupp", "selvhjelpsgrupp", "self-help group")
NUMBERS = {"sv": "+46733960712", "nb": "+4790871523", "en": "+447700900123"}
STOP_SAYS = {
    "sv": "raderar vi ditt nummer och alla anmälningar",
    "nb": "sletter vi nummeret ditt og alle påmeldingene dine",
    "en": "we then delete your number and all your registrations",
}
DELETED = {"sv": "alla dina anmälningar", "nb": "alle påmeldingene dine", "en": "all your registrations"}


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
@pytest.mark.parametrize("body", ["HELP", "STOP", "Hej, vem är det här?"])
def test_keyword_and_unknown_replies_open_with_the_organisation(wired: Services, http, locale: str, body: str):  # noqa: F811
    text = reply_text(inbound(http, NUMBERS[locale], body))
    assert wired.organisation.name in text[:40], text
    head = text[:LOCK_SCREEN].lower()
    assert not any(word in head for word in GROUP_WORDS), text
    if body == "HELP":
        assert STOP_SAYS[locale] in text and all(line.number in text for line in wired.organisation.crisis)
    elif body == "STOP":
        assert DELETED[locale] in text
    else:
        assert "STOP" in text and DELETED[locale] in text
