"""What is stored about a number is keyed with the installation's secret: each marker and rate-limit row
is checked against an HMAC computed in the test, and a second secret changes every one of them."""

from __future__ import annotations

from collections.abc import Callable

from shared.adapters.storage import INTERESTS, RATE_LIMITS
from shared.composition import Services
from tests.support.keys import hmac_key
from tests.support.privacy import register_verified
from tests.support.tables import THEME

NUMBER = "+46735519001"
OTHER_SECRET = "a second secret, rotated in Key Vault"


def number_keys(services: Services) -> tuple[list[str], list[str]]:
    """The keys stored under `phone.` in the theme's partition and in the rate-limit table."""
    markers = [
        r["RowKey"].split(".")[1]
        for r in services.storage.table(INTERESTS).query_entities("PartitionKey eq @t", parameters={"t": THEME})
        if r["RowKey"].startswith("phone.")
    ]
    limits = [
        r["PartitionKey"].split(".", 1)[1]
        for r in services.storage.table(RATE_LIMITS).list_entities()
        if r["PartitionKey"].startswith("phone.")
    ]
    return markers, limits


def test_markers_and_counters_are_the_hmac_under_the_secret(services: Services) -> None:
    register_verified(services, "Kim", NUMBER)
    markers, limits = number_keys(services)
    # One verified marker; one attempt marker (phone.<key>.<attempt>) is gone once verified, or kept.
    assert markers and set(markers) == {hmac_key(NUMBER)}, markers
    assert limits and set(limits) == {hmac_key(NUMBER)}, limits


def test_a_second_secret_keys_every_row_differently(make_services: Callable[..., Services]) -> None:
    services = make_services(PHONE_KEY_SECRET=OTHER_SECRET)
    register_verified(services, "Kim", NUMBER)
    markers, limits = number_keys(services)
    assert markers and set(markers) == {hmac_key(NUMBER, OTHER_SECRET)}, markers
    assert limits and set(limits) == {hmac_key(NUMBER, OTHER_SECRET)}, limits
    assert hmac_key(NUMBER) not in markers + limits
