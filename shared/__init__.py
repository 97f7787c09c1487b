"""Gruppstart's package. Layers, inner to outer (tests/unit/test_import_contract.py enforces them):

- ``core``      pure records and rules: no I/O, imports nothing else of the project
- ``adapters``  Table Storage, queues, the rate limiter, SMS senders, Jinja2 templates
- ``services``  the use cases; they reach storage and SMS only through adapters
- ``web``       the HTTP surface (resident pages, JSON API, webhooks, ``admin`` for operators)
- ``local``     ``make dev`` only; never deployed

``settings`` and ``composition`` (the composition root that builds the services) sit beside them;
``templates/``, ``locales/`` and ``static/`` are resources, found through the paths below.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
