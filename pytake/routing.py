"""Websocket routes of every app (each app's ``routing.websocket_urlpatterns``), for ``pytake.asgi``."""

import importlib

from django.apps import apps

websocket_urlpatterns: list = []
for _config in apps.get_app_configs():
    try:
        _module = importlib.import_module(f"{_config.name}.routing")
    except ModuleNotFoundError as _error:
        if _error.name != f"{_config.name}.routing":
            raise
        continue
    websocket_urlpatterns += getattr(_module, "websocket_urlpatterns", [])
