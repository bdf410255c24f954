"""``/api/v1/``: the routes every app's ``api.py`` registers, the OpenAPI schema and its two viewers.

An app's ``api.py`` defines ``register(router)`` (viewsets) and may define ``urlpatterns``
(plain views); both are mounted here, in ``INSTALLED_APPS`` order.
"""

from __future__ import annotations

from csp.constants import NONCE
from csp.decorators import csp_update
from django.urls import path, reverse
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from pytake.app_modules import app_submodules


class DocsView(TemplateView):
    """Swagger UI / ReDoc from ``static/`` (the sidecar's builds), started by a static script (CSP)."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "schema_url": reverse("api:schema")}


class SchemaView(SpectacularAPIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []


def _routes():
    router = SimpleRouter()
    extra = []
    for module in app_submodules("api"):
        register = getattr(module, "register", None)
        if register is not None:
            register(router)
        extra.extend(getattr(module, "urlpatterns", []))
    return extra + router.urls


SWAGGER_STYLE_HASH = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"

app_name = "api"

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    # Swagger UI adds one fixed <style> element of its own: allowed by its hash (no 'unsafe-inline').
    path(
        "docs/",
        csp_update({"style-src": [SWAGGER_STYLE_HASH]})(DocsView.as_view(template_name="api/swagger.html")),
        name="docs",
    ),
    # ReDoc's styled-components insert <style> elements: allowed by this page's nonce only (no 'unsafe-inline').
    path("redoc/", csp_update({"style-src": [NONCE]})(DocsView.as_view(template_name="api/redoc.html")), name="redoc"),
    *_routes(),
]
