"""The formation-requests queue's contract (shared/services/formation_requests.py): what intake writes
is what the trigger reads, the bare theme id of earlier versions is still read, and nothing else
names a theme."""

from __future__ import annotations

import json

import pytest

from shared.services.formation_requests import FormationRequestError, formation_request, parse_formation_request


def test_the_written_form_is_json_naming_the_theme_and_reads_back() -> None:
    written = formation_request("anhorig")
    assert json.loads(written) == {"theme": "anhorig"}
    assert parse_formation_request(written) == "anhorig"


def test_a_bare_theme_id_queued_by_an_earlier_version_is_read() -> None:
    assert parse_formation_request("sjukdom") == "sjukdom"
    assert parse_formation_request("sjukdom\n") == "sjukdom"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not json at all",
        "Anhorig",
        "anhorig\x00",
        "[]",
        '"anhorig"',
        "{}",
        '{"theme": 7}',
        '{"theme": ""}',
        '{"theme": "Anhörig"}',
        '{"theme": "a/b"}',
        '{"theme": "' + "a" * 41 + '"}',
        '{"row": "anhorig"}',
    ],
)
def test_anything_else_names_no_theme(bad: str) -> None:
    with pytest.raises(FormationRequestError):
        parse_formation_request(bad)


def test_no_message_is_written_for_something_that_is_not_a_theme_id() -> None:
    with pytest.raises(ValueError):
        formation_request('anhorig"}')
