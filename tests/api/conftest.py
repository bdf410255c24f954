from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts import services as account_services
from accounts.models import APITokenKind
from pytake.api.principal import SCOPES

ALL = list(SCOPES)
READ_ONLY = [scope for scope in SCOPES if scope.endswith(":read")]


@pytest.fixture
def token_for():
    """``token_for(tenant.org, user, scopes=..., kind=...)`` → the clear token."""

    def make(org, user, scopes=ALL, kind=APITokenKind.PERSONAL, **fields):
        _row, token = account_services.api_token_create(
            organization=org, user=user, name="test", scopes=list(scopes), kind=kind, **fields
        )
        return token

    return make


class Api:
    """A test client that speaks JSON with a bearer token."""

    def __init__(self, token: str | None = None, client: Client | None = None):
        self.client = client or Client()
        self.token = token

    def _headers(self, headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
        if self.token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        return extra

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, **self._headers(headers))

    def post(self, path, data=None, headers=None):
        body = json.dumps(data if data is not None else {})
        return self.client.post(path, body, content_type="application/json", **self._headers(headers))

    def patch(self, path, data=None, headers=None):
        return self.client.patch(
            path, json.dumps(data or {}), content_type="application/json", **self._headers(headers)
        )

    def delete(self, path, headers=None):
        return self.client.delete(path, **self._headers(headers))


@pytest.fixture
def api_for(token_for):
    """``api_for(org, user, scopes=...)``: an ``Api`` client with a fresh personal token."""

    def make(org, user, **kwargs):
        return Api(token_for(org, user, **kwargs))

    return make
