"""`make dev`: Azurite (unless AzureWebJobsStorage is set), the app on uvicorn, and the queue and
timer functions in-process, with SMS going to a local outbox unless Twilio settings are given."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from shared.core.organisation import MUNICIPALITIES, OrganisationConfigError

if TYPE_CHECKING:
    from shared.composition import Services

DEMO_FACILITATORS: list[dict[str, Any]] = [
    {"name": "Eva Lind", "phone": "+46701740610", "locales": ["sv", "en"], "capacity": 3},
    {"name": "Ola Nordmann", "phone": "+4741234568", "locales": ["nb", "en"], "capacity": 3},
]


def _organisation_from_file() -> None:
    if os.environ.get("ORGANISATION_CONFIG"):
        return
    stem = os.environ.get("ORG", "region-jonkoping")
    path = MUNICIPALITIES / f"{stem}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in MUNICIPALITIES.glob("*.json")))
        sys.exit(f"ORG={stem}: no such municipality file; known: {known}")
    os.environ["ORGANISATION_CONFIG"] = json.dumps(json.loads(path.read_text(encoding="utf-8"))["organisation"])
    from shared.local.concurrency import ENV, templates_concurrency

    os.environ.setdefault(ENV, str(templates_concurrency(path)))  # as many requests at once as its instance runs


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    port = int(os.environ.get("PORT", "7071"))
    _organisation_from_file()
    os.environ.setdefault("DEV_MODE", "true")
    os.environ.setdefault("ADMIN_TOKEN", "dev-admin-token")  # local only; Azure reads it from Key Vault

    azurite = None
    if not os.environ.get("AzureWebJobsStorage") and not os.environ.get("AzureWebJobsStorage__accountName"):
        from shared.local.azurite import Azurite

        azurite = Azurite()
        os.environ["AzureWebJobsStorage"] = azurite.start()
        print(f"Azurite (in memory) on ports {azurite.ports}")

    from pydantic import ValidationError

    from shared.composition import build_services, use_services
    from shared.settings import Settings

    try:
        settings = Settings()  # type: ignore[call-arg]
        services = build_services(settings)
        services.organisation  # noqa: B018 - validate the organisation document now, not on first request
    except (ValidationError, OrganisationConfigError) as exc:
        if azurite:
            azurite.stop()
        sys.exit(f"Configuration error: {exc}")
    use_services(services)
    services.ensure_ready()
    _seed_facilitators(services)

    import uvicorn

    from shared.local.outbox_pages import dev_app
    from shared.local.runner import LocalHost, load_function_app
    from shared.web.front import Front

    # The queue and timer functions exactly as function_app.py registers them; the HTTP surface is what
    # its one HTTP function serves (functions/http.py): the front, then the FastAPI app built by the same
    # factory, with the outbox pages added.
    host = LocalHost(
        load_function_app(),
        services.storage,
        settings=settings,
    )
    host.start()
    sms = "Twilio" if settings.uses_twilio else f"the local outbox (http://127.0.0.1:{port}/dev/outbox)"
    print(f"\n  Form:     http://127.0.0.1:{port}/\n  API:      http://127.0.0.1:{port}/api/docs\n  SMS go to {sms}")
    print(f"  Admin API token: {os.environ['ADMIN_TOKEN']}\n")
    app: Any = Front(app=dev_app)
    from shared.local.concurrency import ENV, PerInstanceConcurrency

    if os.environ.get(ENV):  # one instance's HTTP concurrency, as the templates set it (shared/local/concurrency.py)
        app = PerInstanceConcurrency(app, int(os.environ[ENV]))
        print(f"  At most {app.limit} requests at once, the rest queued (one instance's {ENV})")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

    def shutdown(*_: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.run()
    finally:
        host.stop()
        if azurite:
            azurite.stop()


def _seed_facilitators(services: Services) -> None:
    from shared.services.facilitators import FacilitatorIn

    if services.facilitators.list():
        return
    for data in DEMO_FACILITATORS:
        locales = [loc for loc in data["locales"] if loc in services.organisation.locales] or [
            services.organisation.default_locale
        ]
        services.facilitators.create(FacilitatorIn(**{**data, "locales": locales}))
    print(f"Seeded {len(DEMO_FACILITATORS)} demo facilitators")


if __name__ == "__main__":
    threading.current_thread().name = "dev"
    main()
