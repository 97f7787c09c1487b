"""HTTP trigger: the whole web surface (form, JSON API, webhooks) is one ASGI app behind one catch-all route."""

from shared.web.app import create_app

asgi_app = create_app()
