"""The operators' pages under /manage: overview, groups, facilitators, statistics, a resident's data.

Server-rendered like the resident pages and held to the same bar (labels, errors tied to fields,
keyboard, lang, axe-core). Each job has its module; this one puts their routers together in the
order FastAPI must match them. Access lives in `auth`, the audit log in shared.adapters.audit, the
work itself in shared.services.operations.

Why not /admin: the Functions host reserves routes that start with "admin" for its own API
(Azure/azure-functions-host#1781, "The specified route conflicts with one or more built in routes";
#6990 shows a catch-all route shadowing it), so a page there works only by the host's matching order.
"""

from __future__ import annotations

from fastapi import APIRouter

from shared.web.admin import facilitators, groups, needs, overview, people, phone_in, sign_in

router = APIRouter()
router.include_router(sign_in.public)  # the only routes open without credentials
for module in (sign_in, overview, groups, facilitators, people, needs, phone_in):
    router.include_router(module.protected)
