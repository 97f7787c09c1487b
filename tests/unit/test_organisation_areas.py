"""The organisation file's area fields for near-first matching: `neighbours` and `area_wait_days`."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.organisation import OrganisationConfigError, parse_organisation
from tests.conftest import municipality


def jonkoping(**changes: Any) -> dict[str, Any]:
    return {**municipality("region-jonkoping")["organisation"], **changes}


def test_one_sided_neighbours_are_made_symmetric() -> None:
    doc = jonkoping(
        areas=[{"id": "a", "name": "A", "neighbours": ["b"]}, {"id": "b", "name": "B"}, {"id": "c", "name": "C"}]
    )
    assert parse_organisation(doc).neighbours() == {"a": frozenset({"b"}), "b": frozenset({"a"})}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"areas": [{"id": "a", "name": "A", "neighbours": ["nowhere"]}]}, "nowhere"),
        ({"areas": [{"id": "a", "name": "A", "neighbours": ["a"]}]}, "itself"),
        ({"areas": [{"id": "a", "name": "A", "neighbours": ["Not A Slug"]}]}, "neighbours"),
        ({"match_by_area": False}, "area_wait_days needs match_by_area"),
        ({"area_wait_days": 0}, "area_wait_days"),
        ({"area_wait_days": 366}, "area_wait_days"),
    ],
)
def test_bad_area_fields_are_refused_naming_the_problem(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(OrganisationConfigError, match=named):
        parse_organisation(jonkoping(**changes))


# Region Jönköpings län's 13 municipalities and which of them share a border, as written in
# infra/municipalities/region-jonkoping.json. Sources: Nässjö borders Aneby, Eksjö, Vetlanda,
# Sävsjö, Vaggeryd and Jönköping (http://nb.wikipedia.org/wiki/N%C3%A4ssj%C3%B6_kommune);
# Eksjö borders Vetlanda, Nässjö and Aneby within the county
# (https://gl.wikipedia.org/wiki/Concello_de_Eksj%C3%B6); Jönköping borders Mullsjö, Habo, Tranås,
# Aneby, Nässjö, Vaggeryd and Gislaved within the county
# (https://wiki.turfgame.com/en/wiki/Municipality:J%C3%B6nk%C3%B6ping, from Swedish Wikipedia).
# The rest (Gnosjö–Gislaved–Värnamo–Vaggeryd, Sävsjö–Värnamo–Vetlanda, Habo–Mullsjö, Aneby–Tranås)
# are read off the county's municipal map; the GGVV region (Gislaved, Gnosjö, Vaggeryd, Värnamo,
# https://en.wikipedia.org/wiki/Gnosj%C3%B6_region) is one contiguous block.
JONKOPING_BORDERS = {
    "aneby": {"eksjo", "jonkoping", "nassjo", "tranas"},
    "eksjo": {"aneby", "nassjo", "vetlanda"},
    "gislaved": {"gnosjo", "jonkoping", "varnamo"},
    "gnosjo": {"gislaved", "vaggeryd", "varnamo"},
    "habo": {"jonkoping", "mullsjo"},
    "jonkoping": {"aneby", "gislaved", "habo", "mullsjo", "nassjo", "tranas", "vaggeryd"},
    "mullsjo": {"habo", "jonkoping"},
    "nassjo": {"aneby", "eksjo", "jonkoping", "savsjo", "vaggeryd", "vetlanda"},
    "savsjo": {"nassjo", "vaggeryd", "varnamo", "vetlanda"},
    "tranas": {"aneby", "jonkoping"},
    "vaggeryd": {"gnosjo", "jonkoping", "nassjo", "savsjo", "varnamo"},
    "vetlanda": {"eksjo", "nassjo", "savsjo"},
    "varnamo": {"gislaved", "gnosjo", "savsjo", "vaggeryd"},
}


def test_region_jonkoping_matches_near_first_with_its_real_borders() -> None:
    org = parse_organisation(municipality("region-jonkoping")["organisation"])
    assert org.match_by_area and org.area_wait_days == 30
    assert {a.id: set(a.neighbours) for a in org.areas} == JONKOPING_BORDERS  # written out both ways
    assert {area: set(n) for area, n in org.neighbours().items()} == JONKOPING_BORDERS
