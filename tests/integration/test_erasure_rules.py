"""A resident's own withdrawal of one interest (`erase_interest`) on the wired storage (Azurite, or the
twin in the fast tier): it erases that theme's interest, marker and pending attempts, and nothing of
another theme. Mutation testing (docs/mutation.md) found it reached only by the erasure scans, which
mutmut's forked workers cannot run."""

from __future__ import annotations

from shared.composition import Services
from shared.core.domain import PHONE_PREFIX, InterestStatus
from tests.support.privacy import LEAVER, LEAVER_NAME, register_verified
from tests.support.tables import THEME, interests, rows

OTHER_THEME = "anhorig"


def markers_of(services: Services, theme: str) -> list[str]:
    prefix = PHONE_PREFIX + services.keyer.key(LEAVER)
    return [r["RowKey"] for r in rows(services, theme) if r["RowKey"].startswith(prefix)]


def test_withdrawing_one_interest_leaves_the_other_themes(services: Services) -> None:
    register_verified(services, LEAVER_NAME, LEAVER, theme=THEME)
    register_verified(services, LEAVER_NAME, LEAVER, theme=OTHER_THEME, locale="en")
    [withdrawn] = [i for i in interests(services) if i.theme == THEME]

    report = services.erasure.erase_interest(withdrawn)

    assert report.interests_erased == 1 and report.groups_left == 0
    assert interests(services, THEME) == []
    assert [i.locale for i in interests(services, OTHER_THEME)] == ["en"]
    assert markers_of(services, THEME) == []
    assert len(markers_of(services, OTHER_THEME)) == 1
    left = services.erasure.interests_of_number(LEAVER)
    assert [i.theme for i in left] == [OTHER_THEME]


def test_withdrawing_erases_the_numbers_pending_attempts_in_that_theme_too(services: Services) -> None:
    register_verified(services, LEAVER_NAME, LEAVER, theme=THEME)
    register_verified(services, LEAVER_NAME, LEAVER, theme=THEME, verify=False)  # a second try, unconfirmed
    register_verified(services, LEAVER_NAME, LEAVER, theme=OTHER_THEME, verify=False)
    [withdrawn] = [i for i in interests(services) if i.theme == THEME and i.status is InterestStatus.WAITING]
    assert len(markers_of(services, THEME)) == 2  # the interest's marker and the attempt's

    report = services.erasure.erase_interest(withdrawn)

    assert report.interests_erased == 2  # the interest and the pending attempt
    assert markers_of(services, THEME) == []
    assert interests(services, THEME) == []
    assert [i.status for i in interests(services, OTHER_THEME)] == [InterestStatus.PENDING_VERIFICATION]
