"""The operators' surface, served under /manage (the Functions host reserves /admin) and /api/admin.

- ``tokens``      signed sessions, CSRF tokens, sign-in nonces, the one bearer check
- ``auth``        who is asking (token, session, Easy Auth with the app role), CSRF, cookies
- ``rendering``   texts (shared.core.i18n, domain "admin"), language, page rendering, routers
- ``sign_in``, ``overview``, ``groups``, ``facilitators``, ``people``: the pages, one job each
- ``pages``       puts the pages' routers together; ``api``: the JSON API, every call audited
"""
