"""The organisation document: both shipped municipality files are valid; a bad one names the wrong field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.core.organisation import (
    MUNICIPALITIES,
    Organisation,
    OrganisationConfigError,
    load_municipality_file,
    parse_organisation,
)

FILES = sorted(MUNICIPALITIES.glob("*.json"))


def _document(stem: str) -> dict[str, Any]:
    return load_municipality_file(MUNICIPALITIES / f"{stem}.json")["organisation"]


def test_both_municipalities_are_shipped() -> None:
    assert {p.stem for p in FILES} >= {"region-jonkoping", "aurskog-holand"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_shipped_municipality_file_is_valid(path: Path) -> None:
    document = load_municipality_file(path)["organisation"]
    organisation = parse_organisation(document)
    assert organisation.id == path.stem
    assert organisation.default_locale in organisation.locales
    for theme in organisation.themes:
        for locale in organisation.locales:
            text = organisation.theme_text(theme.id, locale)
            assert text.label and text.description
    # The same document also parses from the JSON text the ORGANISATION_CONFIG setting carries.
    assert parse_organisation(json.dumps(document)) == organisation


def test_region_jonkoping() -> None:
    org = parse_organisation(_document("region-jonkoping"))
    assert org.country == "SE"
    assert org.default_locale == "sv"
    assert org.minimum_age == 20
    assert (org.group_size.min, org.group_size.max) == (5, 8)
    assert len(org.areas) == 13  # the municipalities of Jönköpings län
    assert org.area("jonkoping") is not None
    theme_ids = {t.id for t in org.themes}
    assert {"sjukdom", "sjukskrivning", "separation", "stress"} <= theme_ids
    # The region's page lists "sjukdom, smärta, sjukskrivning, separation, arbetslöshet, stress, vara
    # anhörig eller annat i vardagen": an open "Annat" choice, and no theme it does not list.
    assert theme_ids == {
        "sjukdom",
        "smarta",
        "sjukskrivning",
        "separation",
        "arbetsloshet",
        "stress",
        "anhorig",
        "annat",
    }
    assert [t.id for t in org.themes if t.open] == ["annat"]
    assert org.theme_text("annat", "sv").label == "Annat"
    assert org.scheme is not None
    # Issue 20: every statement about the scheme is the region's, with its page.
    topics = [fact.topic for fact in org.scheme.facts]
    assert topics == [
        "group_size",
        "facilitator",
        "continued_contact",
        "meetings",
        "duration",
        "cost",
        "anonymity",
        "confidentiality",
    ]
    assert {fact.source for fact in org.scheme.facts} == {"https://utveckling.rjl.se/vad-pagar/sjalvhjalpsgrupper/"}
    assert org.facilitator_stays_in_touch  # "har fortsatt kontakt med gruppen och ger stöd vid behov"
    assert any("1177.se" in link.url for link in org.scheme.links)
    assert [line.number for line in org.crisis] == ["112", "90101", "1177"]


def test_aurskog_holand() -> None:
    org = parse_organisation(_document("aurskog-holand"))
    assert org.country == "NO"
    assert org.default_locale == "nb"
    assert "nb" in org.locales
    # "Selvhjelp er for alle": one open group, no invented themes, no age limit the scheme never states.
    assert org.minimum_age is None
    assert [(t.id, t.open) for t in org.themes] == [("apen", True)]
    assert org.theme_text("apen", "nb").label == "Åpen gruppe – alle temaer"
    assert org.scheme is not None
    # Issue 20: only what the municipality's page says ("for alle", "minimum 5"); no cost, anonymity,
    # weekly meetings or continued contact, and no under-age referral that reads as an exclusion.
    topics = [fact.topic for fact in org.scheme.facts]
    assert topics == ["who_may_join", "group_size", "facilitator", "not_health_service", "confidentiality"]
    assert not org.facilitator_stays_in_touch and org.under_age is None
    assert "juridisk bindende" in org.scheme.facts[-1].text["nb"]
    assert any("selvhjelp.no" in link.url for link in org.scheme.links)
    assert org.coordinator is not None and "folkehelsekoordinator" in org.coordinator.title["nb"]
    # Norway's medical emergency number is 113, not 112.
    assert [line.number for line in org.crisis] == ["113", "116 117", "116 123", "22 40 00 40"]
    # No line repeats itself ("Legevakt – Legevakt"): when to call and who answers are different words.
    assert all(line.when["nb"] != line.name["nb"] for line in org.crisis)


def test_group_size_defaults_to_five_to_eight() -> None:
    document = _document("aurskog-holand")
    document.pop("group_size", None)
    size = parse_organisation(document).group_size
    assert (size.min, size.max) == (5, 8)


def test_theme_text_falls_back_to_the_default_locale() -> None:
    org = parse_organisation(_document("region-jonkoping"))
    assert "nb" not in org.locales
    assert org.theme_text("stress", "nb") == org.theme_text("stress", "sv")
    with pytest.raises(KeyError):
        org.theme_text("knitting", "sv")


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (_set("group_size.min", 1), "group_size.min"),
        (_set("group_size.max", 99), "group_size.max"),
        (_set("group_size", {"min": 9, "max": 6}), "group_size"),
        (_set("default_locale", "nb"), "default_locale"),
        (_set("default_locale", "de"), "default_locale"),
        (_drop("themes.0.text.en"), "sjukdom"),  # the theme that lacks English
        (_set("themes.0.text.sv.label", ""), "themes.0.text.sv.label"),
        (_set("themes.0.id", "Not A Slug"), "themes.0.id"),
        (_set("themes", []), "themes"),
        (_drop("country"), "country"),
        (_set("country", "DK"), "country"),
        (_set("locales", ["sv", "fi"]), "locales"),
        (_set("minimum_age", 12), "minimum_age"),
        (_set("coordinator_phone", "not a number"), "coordinator_phone"),
        (_set("unexpected", True), "unexpected"),
        (_drop("consent_version"), "consent_version"),
        (_set("areas.1.id", "aneby"), "area"),  # two areas with one id
        (_set("match_by_area", "maybe"), "match_by_area"),
        (_drop("privacy.controller"), "privacy.controller"),
        (_drop("privacy"), "privacy"),
        (_set("crisis", []), "crisis"),
        (_drop("crisis"), "crisis"),
        (_drop("crisis.0.source"), "crisis.0.source"),
        (_set("crisis.0.source", "javascript:alert(1)"), "crisis.0.source"),
        (_drop("crisis.1.when.en"), "crisis.1.when"),
        (_drop("scheme.facts.0.text.en"), "scheme.facts.0.text"),
        (_drop("scheme.facts.0.source"), "scheme.facts.0.source"),
        (_set("scheme.facts.0.topic", "weekly"), "scheme.facts.0.topic"),
        (_drop("accessibility.method.sv"), "accessibility.method"),
        (_set("privacy.dpo", {"name": {"sv": "DSO", "en": "DPO"}}), "privacy.dpo"),
        (_drop("themes.0.text.sv.phrase"), "themes.0.text.sv.phrase"),
        (_drop("accessibility"), "accessibility"),
    ],
)
def test_a_bad_document_names_the_field(mutate: Mutation, named: str) -> None:
    document = copy.deepcopy(_document("region-jonkoping"))
    assert document["areas"][0]["id"] == "aneby"
    mutate(document)
    with pytest.raises(OrganisationConfigError) as caught:
        parse_organisation(document)
    assert named in str(caught.value)


def test_a_theme_lacking_a_locales_text_names_the_theme_and_the_locale() -> None:
    document = _document("aurskog-holand")
    theme = document["themes"][0]
    del theme["text"]["en"]
    with pytest.raises(OrganisationConfigError) as caught:
        parse_organisation(document)
    message = str(caught.value)
    assert theme["id"] in message
    assert "en" in message.replace(theme["id"], "")


def test_text_that_is_not_json_is_refused_clearly() -> None:
    with pytest.raises(OrganisationConfigError, match="not valid JSON"):
        parse_organisation("{name: 'Region'")
    with pytest.raises(OrganisationConfigError, match="ORGANISATION_CONFIG"):
        parse_organisation("[]")


def test_the_organisation_is_immutable() -> None:
    org = parse_organisation(_document("region-jonkoping"))
    with pytest.raises(ValueError):
        org.minimum_age = 5  # type: ignore[misc]
    assert isinstance(org, Organisation)


# --- what a resident must be told (issue 13) ------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_file_names_a_controller_a_dpo_and_crisis_numbers_with_sources(path: Path) -> None:
    org = parse_organisation(load_municipality_file(path)["organisation"])
    controller = org.privacy.controller
    assert controller.name and (controller.email or controller.phone or controller.url)
    assert org.privacy.dpo.name and org.privacy.authority.url.startswith("https://")
    assert org.crisis, "no crisis numbers"
    for line in org.crisis:
        assert line.source.startswith(("https://", "http://")), line.number
        assert line.source not in ("https://", "http://")
    assert org.accessibility.enforcement.url and org.accessibility.feedback


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_resident_text_in_a_file_has_every_locale_of_the_file(path: Path) -> None:
    """The key-parity test of the catalogs, extended to the organisation files."""
    document = load_municipality_file(path)["organisation"]
    locales = set(document["locales"])
    found = 0

    def walk(value: Any, where: str) -> None:
        nonlocal found
        if isinstance(value, dict):
            if value and set(value) <= {"sv", "nb", "en"} and all(isinstance(v, (str, dict)) for v in value.values()):
                found += 1
                assert set(value) == locales, (
                    f"{path.stem}: {where} has {sorted(value)}, the file speaks {sorted(locales)}"
                )
                return
            for key, item in value.items():
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}.{i}")

    walk(document, "organisation")
    assert found > 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_theme_phrases_are_gsm_7_and_not_lower_cased_labels(path: Path) -> None:
    from shared.core.sms_segments import segment_info

    org = parse_organisation(load_municipality_file(path)["organisation"])
    for theme in org.themes:
        for locale, text in theme.text.items():
            assert segment_info(text.phrase).encoding == "GSM-7", (theme.id, locale, text.phrase)
            assert text.phrase != text.label.lower(), (theme.id, locale)


def test_a_text_falls_back_to_the_default_locale_and_says_so() -> None:
    org = parse_organisation(_document("region-jonkoping"))
    same = org.local(org.crisis[0].when, "sv")
    assert same.text == "Akut fara för liv" and same.lang is None
    fallback = org.local(org.crisis[0].when, "nb")  # a page shown in nb: the region has no nb texts
    assert fallback.text == "Akut fara för liv" and fallback.lang == "sv"
    assert org.crisis_summary("en").startswith("A life in danger: 112.")
