"""The Function App: one app object that registers the trigger modules in functions/, nothing else."""

import azure.functions as func

from functions import formation, http, lifecycle, notifications, stop

app = func.AsgiFunctionApp(app=http.asgi_app, http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(formation.bp)
app.register_functions(notifications.bp)
app.register_functions(lifecycle.bp)
app.register_functions(stop.bp)
