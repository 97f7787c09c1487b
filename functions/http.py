"""HTTP trigger: the whole web surface (form, JSON API, webhooks) is one ASGI app behind one catch-all route.

That app is the front (shared/web/front.py): a new instance answers the resident's form and its
stylesheet without FastAPI, and builds the FastAPI app on the first request that needs it. Nothing of
the web stack is imported here: the host imports function_app to index every function, and queue and
timer invocations never need it.
"""

from __future__ import annotations

from typing import Any

from shared.web.front import Front


def web_app() -> Any:
    """The FastAPI app, imported and built when the front first hands it a request."""
    from shared.web.app import create_app

    return create_app()


asgi_app = Front(web_app)
