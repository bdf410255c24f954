"""The base classes of every API view: idempotent ``POST`` and rate-limit headers on each answer."""

from __future__ import annotations

from rest_framework import mixins, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from pytake.api import idempotency
from pytake.api.pagination import KeysetPagination
from pytake.api.principal import Principal
from pytake.api.ratelimit import headers_for


class _Replay(Exception):
    def __init__(self, stored: dict):
        self.stored = stored


class ApiMixin:
    pagination_class = KeysetPagination

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        key = request.headers.get(idempotency.HEADER)
        if request.method == "POST" and key is not None and isinstance(request.auth, Principal):
            print_ = idempotency.fingerprint(request._request)
            stored = idempotency.begin(principal_key=request.auth.key, key=key, print_=print_)
            if stored is not None:
                raise _Replay(stored)
            self._idempotency = (request.auth.key, key, print_)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            stored = exc.stored
            response = Response(stored["body"], status=stored["status"], content_type=stored["content_type"])
            for name, value in stored["headers"].items():
                response[name] = value
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            return super().handle_exception(exc)
        except Exception:
            if getattr(self, "_idempotency", None):
                principal_key, key, _print = self._idempotency
                idempotency.release(principal_key=principal_key, key=key)
                self._idempotency = None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        reserved = getattr(self, "_idempotency", None)
        if reserved and isinstance(response, Response) and "Idempotent-Replayed" not in response:
            principal_key, key, print_ = reserved
            idempotency.finish(principal_key=principal_key, key=key, print_=print_, response=response)
        window = getattr(request._request if hasattr(request, "_request") else request, "api_rate_window", None)
        if window is not None:
            for name, value in headers_for(window).items():
                response[name] = value
        return response

    @property
    def principal(self) -> Principal:
        return self.request.auth

    @property
    def organization(self):
        return self.request.auth.organization


class ApiView(ApiMixin, APIView):
    pass


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    """A resource: ``list`` / ``retrieve`` from a selector, writes through services (no ``ModelViewSet``
    saving serializers: the serializers parse and render, the services decide)."""

    lookup_value_regex = r"[0-9]{1,18}"  # ids only: anything else is a 404 before any query


ListMixin = mixins.ListModelMixin
RetrieveMixin = mixins.RetrieveModelMixin
