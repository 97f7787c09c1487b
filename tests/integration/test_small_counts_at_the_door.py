"""Issue 23.6 on the residents' side: "N more are needed" is the group's minimum less the people who
wait, so it tells that count. Below the organisation's small-count threshold the form, the thank-you
page and the API say only that more are needed, and the form states the rule. Waiting rows are written
straight to Azurite; the counts are read back through the real app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services
from shared.core import i18n
from shared.web.app import create_app
from tests.conftest import municipality
from tests.support.tables import seed_waiting


def county(threshold: int) -> dict[str, Any]:
    document = municipality("region-jonkoping")["organisation"]
    assert document["group_size"]["min"] == 5  # the counts below are worked out for a group of five
    return {**document, "small_count_threshold": threshold}


def what_the_door_says(services: Services) -> tuple[dict[str, Any], str]:
    with TestClient(create_app(lambda: services)) as web:
        themes = web.get("/api/themes").json()
        form = web.get("/", params={"lang": "en"}).text
    [stress] = [t for t in themes if t["id"] == "stress"]
    return stress, form


@pytest.mark.parametrize("waiting", [1, 2, 3, 4])
def test_a_few_waiting_are_never_counted_outside_manage(make_services: Callable[..., Services], waiting: int) -> None:
    services = make_services(county(5))
    seed_waiting(services, waiting, "stress")
    stress, form = what_the_door_says(services)

    assert (stress["waiting"], stress["needed"], stress["fewer_than"]) == (None, None, 5)
    assert i18n.translate("en", "needed_few") in form
    assert i18n.translate("en", "needed_rule", threshold=5) in form
    # Neither "4 more people needed" nor its singular: either would tell how many wait.
    told = [i18n.plural("en", "needed", n) for n in range(1, 5)]
    assert len(told) == 4 and not [sentence for sentence in told if sentence in form]


@pytest.mark.parametrize(
    ("waiting", "api", "sentence", "rule"),
    [
        (0, (0, 5, None), ("needed", 5), False),  # nobody waits: a count of none names nobody
        (1, (None, None, 2), ("needed_few", None), True),  # under a threshold of 2
        (2, (2, 3, None), ("needed", 3), False),  # at the threshold: told as it is
    ],
)
def test_the_threshold_is_the_organisations(
    make_services: Callable[..., Services],
    waiting: int,
    api: tuple[int | None, int | None, int | None],
    sentence: tuple[str, int | None],
    rule: bool,
) -> None:
    services = make_services(county(2))
    seed_waiting(services, waiting, "stress")
    stress, form = what_the_door_says(services)

    assert (stress["waiting"], stress["needed"], stress["fewer_than"]) == api
    key, n = sentence
    assert (i18n.plural("en", key, n) if n is not None else i18n.translate("en", key)) in form
    assert (i18n.translate("en", "needed_rule", threshold=2) in form) is rule
