"""Issue 20.1: texts of ours state no scheme fact. Group size, cost, anonymity and how often groups meet
are the organisation's to say (organisation.scheme.facts, each with its page); a catalog string or
template that says them is wrong for at least one organisation (Aurskog-Høland says "minimum 5",
"for alle", and nothing about cost, anonymity or weekly meetings).

Scanned: the resident and SMS catalogs (shared/locales/*.json), the SMS templates and the resident web
templates. Failed on the texts before issue 20 ("5–8 personer", "Det är gratis", "Du kan vara anonym").
"""

from __future__ import annotations

import json
import re

import pytest

from shared import PACKAGE_DIR
from shared.core.i18n import LOCALES
from shared.core.organisation import MUNICIPALITIES, load_municipality_file, parse_organisation

LOCALES_DIR = PACKAGE_DIR / "locales"
TEMPLATES = PACKAGE_DIR / "templates"

# What states a scheme fact, in the three languages. Word boundaries keep "free a place" (an operator's
# alert) and "frigör" out; a count the service computes ({n} personer) is data, not a claim about the scheme.
SCHEME_FACTS = {
    "a number of people": re.compile(
        r"\b\d+\s*(?:[–-]|to|till|til)?\s*\d*\s+(?:personer|people|persons|deltagare|deltakere|members)\b", re.I
    ),
    "the group size from the settings": re.compile(r"\{\s*(?:min|max)\s*\}|group_size"),
    "cost": re.compile(
        r"\bgratis\b|\bkostnadsfri|\bkostar ingenting\b|\bkoster ingenting\b|\bfree of charge\b|\bfor free\b"
        r"|\bit is free\b|\bis free\b|\bcosts nothing\b",
        re.I,
    ),
    "anonymity": re.compile(r"\banonym", re.I),
    "weekly meetings": re.compile(
        r"\bvarje vecka\b|\bi veckan\b|\bhver uke\b|\bi uka\b|\bukentlig|\bevery week\b|\bweekly\b|\ba week\b", re.I
    ),
}


def catalog_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(LOCALES_DIR.glob("*.json")):  # the resident and SMS catalogs; not admin/ or facilitator/
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            texts.append((f"{path.name}:{key}", value))
    return texts


def template_texts() -> list[tuple[str, str]]:
    paths = sorted((TEMPLATES / "sms").glob("*/*.txt")) + sorted((TEMPLATES / "web").glob("*.html"))
    return [(str(p.relative_to(PACKAGE_DIR)), p.read_text(encoding="utf-8")) for p in paths]


def test_it_scans_every_catalog_and_template() -> None:
    catalogs = catalog_texts()
    templates = template_texts()
    languages = len(LOCALES)  # core/languages.py: sv, nb, en when this was written
    assert languages >= 3 and len({name.split(":")[0] for name, _ in catalogs}) == languages
    assert len(catalogs) >= languages * 120
    assert len([t for t in templates if t[0].startswith("templates/sms/")]) >= languages * 18
    assert len([t for t in templates if t[0].startswith("templates/web/")]) >= 10


@pytest.mark.parametrize("what", sorted(SCHEME_FACTS))
def test_no_catalog_string_or_template_states_a_scheme_fact(what: str) -> None:
    pattern = SCHEME_FACTS[what]
    found = [(name, m.group(0)) for name, text in catalog_texts() + template_texts() if (m := pattern.search(text))]
    assert found == [], f"{what} stated outside the organisation's own text: {found}"


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("a number of people", "I en självhjälpsgrupp träffas 5–8 personer som delar en erfarenhet."),
        ("a number of people", "In a self-help group, 5 to 8 people meet."),
        ("the group size from the settings", "träffas {min}–{max} personer"),
        ("cost", "Det är gratis."),
        ("cost", "It is free of charge."),
        ("cost", "Det är kostnadsfritt att vara med."),
        ("anonymity", "Du kan vara anonym."),
        ("weekly meetings", "Gruppen møtes helst hver uke."),
        ("weekly meetings", "The group meets every week."),
    ],
)
def test_the_patterns_catch_what_the_texts_used_to_say(what: str, text: str) -> None:
    assert SCHEME_FACTS[what].search(text)


@pytest.mark.parametrize(
    "text",
    ["Det behövs {n} personer till", "Add a facilitator or free a place in admin.", "{{ count }} members"],
)
def test_the_patterns_leave_counts_and_other_words_alone(text: str) -> None:
    assert not any(pattern.search(text) for pattern in SCHEME_FACTS.values())


ORGANISATIONS = {p.stem: load_municipality_file(p)["organisation"] for p in sorted(MUNICIPALITIES.glob("*.json"))}


@pytest.mark.parametrize("stem", sorted(ORGANISATIONS))
def test_every_scheme_fact_has_its_page_and_every_language(stem: str) -> None:
    org = parse_organisation(ORGANISATIONS[stem])
    assert org.scheme is not None and org.scheme.facts
    for fact in org.scheme.facts:
        assert fact.source.startswith("https://"), fact
        assert set(fact.text) == set(org.locales), fact


def test_only_the_organisations_own_text_states_its_facts() -> None:
    """The scheme's facts are in the organisation files: what each says is only what its page says."""
    jonkoping = parse_organisation(ORGANISATIONS["region-jonkoping"])
    aurskog = parse_organisation(ORGANISATIONS["aurskog-holand"])
    assert jonkoping.scheme is not None and aurskog.scheme is not None
    said_sv = " ".join(f.text["sv"] for f in jonkoping.scheme.facts)
    for words in ("5–8 personer", "4–5 träffarna", "kostnadsfritt", "anonym", "fortsatt kontakt"):
        assert words in said_sv, words
    said_nb = " ".join(f.text["nb"] for f in aurskog.scheme.facts)
    assert "for alle" in said_nb and "minimum 5" in said_nb
    for pattern in SCHEME_FACTS.values():
        assert not pattern.search(said_nb.replace("minimum 5 deltakere", "")), pattern.pattern
