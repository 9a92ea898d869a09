"""A real OpenID Connect provider for the SSO tests: a tiny Django project with django-oauth-toolkit.

It runs in its own process on loopback (its own SQLite file, its own RS256 key), never inside the portal's test
process: `process.py` starts it and talks to it; nothing else here is imported by the portal's tests.
"""
