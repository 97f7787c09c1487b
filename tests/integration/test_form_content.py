"""Issue 20: the form as each organisation's deployment renders it (the app over Azurite with the real
organisation file, as `make dev ORG=…` serves it). Aurskog-Høland's page states nothing its scheme does
not; the region's coordinator's phone and e-mail are two items, not one glued string; a single theme is
chosen already."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services
from shared.core.organisation import parse_organisation
from shared.web.app import create_app
from tests.conftest import municipality


def visible_text(html: str) -> str:
    body = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def form_of(make_services: Callable[..., Services], stem: str, lang: str = "") -> tuple[str, Any]:
    document = municipality(stem)["organisation"]
    services = make_services(document)
    with TestClient(create_app(lambda: services)) as client:
        response = client.get(f"/{'?lang=' + lang if lang else ''}")
    assert response.status_code == 200
    return response.text, parse_organisation(document)


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_aurskog_holands_form_says_only_what_its_scheme_says(make_services: Callable[..., Services], lang: str):
    html, org = form_of(make_services, "aurskog-holand", lang)
    text = visible_text(html)
    assert org.scheme is not None and len(org.scheme.facts) == 5
    for fact in org.scheme.facts:
        assert fact.text[lang] in text, fact.topic
    for claim in ("5–8", "5 to 8", "gratis", "free of charge", "anonym", "hver uke", "every week", "helst hver"):
        assert claim not in text, claim
    assert "Kors på halsen" not in text  # no under-age referral: the scheme sets no age and excludes no one


def test_a_single_theme_is_chosen_already(make_services: Callable[..., Services]):
    html, _org = form_of(make_services, "aurskog-holand")
    radios = re.findall(r"<input[^>]*name=\"theme\"[^>]*>", html)
    assert len(radios) == 1 and " checked" in radios[0], radios


def test_the_regions_themes_are_not_chosen_for_the_resident(make_services: Callable[..., Services]):
    html, _org = form_of(make_services, "region-jonkoping")
    radios = re.findall(r"<input[^>]*name=\"theme\"[^>]*>", html)
    assert len(radios) == 8 and not any(" checked" in r for r in radios)


def test_the_coordinators_phone_and_email_are_separate_items(make_services: Callable[..., Services]):
    html, _org = form_of(make_services, "region-jonkoping")
    text = visible_text(html)
    assert "73birgitta" not in text.replace(" ", "")  # once rendered "010-242 41 73birgitta.ekeberg@rjl.se"
    assert re.search(r"<li>Telefon: <a href=\"tel:0102424173\">010-242 41 73</a></li>", html)
    assert re.search(r"<li>E-post: <a href=\"mailto:birgitta.ekeberg@rjl.se\">birgitta.ekeberg@rjl.se</a></li>", html)


def test_the_regions_form_gives_its_scheme_with_the_facilitators_continued_contact(
    make_services: Callable[..., Services],
):
    html, _org = form_of(make_services, "region-jonkoping")
    text = visible_text(html)
    assert "Igångsättaren har sedan fortsatt kontakt med gruppen och ger stöd vid behov." in text
    assert "Det är kostnadsfritt att vara med i en självhjälpsgrupp." in text
    assert "Sök på självhjälpsgrupper på 1177.se för att se grupper som är igång" in text
    # The crisis lines: no number repeated in its own description (it read "1177 Råd om vård – 1177, …").
    assert "1177 Råd om vård – sjukvårdsrådgivning dygnet runt" in text
    assert "– 1177," not in text
