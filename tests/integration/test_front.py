"""The cold-start front answers the form and its stylesheet exactly as the FastAPI app does (issue 22.1).

`shared/web/front.py` serves GET / and GET /static/… without FastAPI on a new instance and hands the rest
to the app. Each request below goes to the app (`create_app`) and to a front over the same services,
and the two answers must be the same: status, headers (as a multiset, names case-folded) and body. The
front is given an app factory that counts its calls, so the comparison also shows the front answered
those requests itself (no app built) and handed the others on (the app built once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.composition import Services, build_services
from shared.settings import Settings
from shared.web.app import create_app
from shared.web.front import Front
from tests.conftest import NOWHERE, municipality
from tests.support.tables import seed_waiting

Answer = tuple[int, list[tuple[str, str]], bytes]

# What a browser sends for the form, in the languages the organisations have and one they lack.
FORM_REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/", {"accept-language": "sv-SE,sv;q=0.9,en;q=0.8"}),
    ("GET", "/", {"accept-language": "nb-NO,nb;q=0.9,en;q=0.5"}),
    ("GET", "/", {"accept-language": "en-GB,en;q=0.9"}),
    ("GET", "/", {}),
    ("GET", "/?lang=en", {"accept-language": "sv"}),
    ("GET", "/?lang=nb", {"accept-language": "sv"}),
    ("GET", "/?lang=sv", {"accept-language": "nb"}),
    ("GET", "/?lang=en&lang=sv", {}),  # the last one wins, as Starlette reads it
    ("GET", "/?lang=xx", {"accept-language": "en"}),  # not a locale: the browser's wish counts
    ("GET", "/?lang=%3Cscript%3E", {}),
    ("GET", "/?lang=en&utm_source=sms", {}),
    ("GET", "/", {"x-forwarded-proto": "https"}),
    ("GET", "/", {"x-forwarded-proto": "http, https"}),
]
STATIC_REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/static/style.css", {}),
    ("HEAD", "/static/style.css", {}),
    ("GET", "/static/admin.css", {"x-forwarded-proto": "https"}),
]

# What the front leaves to the app. HEAD / among them: the app's GET route answers it 405.
HANDED_ON = [("HEAD", "/"), ("GET", "/healthz"), ("POST", "/"), ("GET", "/privacy"), ("GET", "/static/")]


def answer(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Answer:
    response = client.request(method, path, headers=headers, follow_redirects=False)
    return response.status_code, sorted((k.lower(), v) for k, v in response.headers.multi_items()), response.content


class Counted:
    """The front's app factory, counting how often the front needed the app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.built = 0

    def __call__(self) -> Any:
        self.built += 1
        return create_app(lambda: self.services)


def both(services: Services, base_url: str = "http://testserver") -> tuple[TestClient, TestClient, Counted]:
    built = Counted(services)
    app = TestClient(create_app(lambda: services), base_url=base_url)
    front = TestClient(Front(built, lambda: services), base_url=base_url)
    return app, front, built


@pytest.mark.parametrize(
    ("stem", "dev_mode", "base_url"),
    [
        ("region-jonkoping", "true", "http://testserver"),  # sv + en, make dev: no proxy header trusted
        ("aurskog-holand", "false", "http://testserver"),  # nb, in Azure: X-Forwarded-Proto counts
        ("region-jonkoping", "false", "https://gruppstart.example"),  # the host's own https URL
    ],
)
def test_the_front_answers_the_form_and_its_stylesheet_as_the_app_does(
    make_services: Callable[..., Services], stem: str, dev_mode: str, base_url: str
) -> None:
    organisation = municipality(stem)["organisation"]
    services = make_services(organisation, DEV_MODE=dev_mode)
    seed_waiting(services, 3, theme=organisation["themes"][0]["id"])  # some counts and "few" on the form
    app, front, built = both(services, base_url)
    with app, front:
        for method, path, headers in FORM_REQUESTS + STATIC_REQUESTS:
            expected = answer(app, method, path, headers)
            assert answer(front, method, path, headers) == expected, (method, path, headers)
        # The stylesheet revalidated by its ETag: 304 from both, headers alike.
        etag = app.get("/static/style.css").headers["etag"]
        revalidated = answer(app, "GET", "/static/style.css", {"if-none-match": etag})
        assert revalidated[0] == 304
        assert answer(front, "GET", "/static/style.css", {"if-none-match": etag}) == revalidated
        assert built.built == 0  # every one of them answered by the front itself

        # What the comparison compared: the form in the chosen language, HSTS only over HTTPS.
        status, headers, body = answer(front, "GET", "/?lang=en", {})
        assert status == 200 and b'<html lang="en">' in body and b'name="phone"' in body
        hsts = dict(answer(front, "GET", "/", {"x-forwarded-proto": "https"})[1]).get("strict-transport-security")
        https = base_url.startswith("https") or dev_mode == "false"
        assert (hsts == "max-age=63072000") if https else (hsts is None)
        assert dict(answer(front, "GET", "/static/style.css", {})[1])["content-type"].startswith("text/css")

        # Anything else goes to the app, built once, on the first such request.
        for method, path in HANDED_ON:
            assert answer(front, method, path, {}) == answer(app, method, path, {}), (method, path)
        assert built.built == 1


@pytest.mark.parametrize(
    "path",
    [
        "/static/../web/app.py",
        "/static/%2e%2e/web/app.py",
        "/static/..%2fweb%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fshared%2fsettings.py",
        "/static//etc/passwd",
        "/static/style.css%00.py",
        "/static/no-such.css",
    ],
)
def test_a_static_path_outside_the_folder_or_missing_gets_the_apps_404(services: Services, path: str) -> None:
    app, front, _ = both(services)
    with app, front:
        status, _, body = answer(front, "GET", path, {})
        assert (status, body) == answer(app, "GET", path, {})[::2]
        assert status == 404
        assert b"import " not in body and b"root:" not in body  # no source file, no /etc/passwd


def test_a_storage_outage_on_the_form_gets_the_apps_503_page(
    make_settings: Callable[..., Settings], outbox: Any
) -> None:
    # Storage down from the start: the first GET / cannot create the tables.
    services = build_services(make_settings(AzureWebJobsStorage=NOWHERE), sender=outbox)
    app, front, built = both(services)
    with app, front:  # both start although storage is down
        for headers in ({"accept-language": "sv"}, {"accept-language": "en"}, {"x-forwarded-proto": "https"}):
            expected = answer(app, "GET", "/", headers)
            assert expected[0] == 503
            assert answer(front, "GET", "/", headers) == expected
        assert built.built == 1  # the front handed the outage to the app, which answered it
