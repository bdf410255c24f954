"""The API root: the framework pieces every app's ``api.py`` builds on (Django REST framework).

- ``principal``: who is calling (a token or a session), in which organization, with which scopes.
- ``permissions``: read/write scopes per resource, the member's role, read-only organizations.
- ``problems``: every error as RFC 9457 problem details (``application/problem+json``).
- ``pagination``: keyset cursors, stable while rows are inserted.
- ``idempotency``: ``Idempotency-Key`` on ``POST``, answers kept in Redis for 24 hours.
- ``ratelimit``: a fixed window per token (or user) with ``RateLimit-*`` headers.
- ``views``: ``ApiView`` / ``ApiViewSet``, the base classes that wire the above together.
- ``urls``: ``/api/v1/`` — each app's ``api.py`` contributes its routes; schema and docs.

The rules themselves stay in the apps' services and selectors: an endpoint parses input, calls the
same function the page calls, and renders the result.
"""
