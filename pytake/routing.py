"""Websocket routes of every app, for ``pytake.asgi``. Each module holds ``websocket_urlpatterns``."""

import importlib

WEBSOCKET_ROUTE_MODULES = [
    "conversations.inbox.routing",
    "notifications.routing",
]

websocket_urlpatterns: list = []
for _name in WEBSOCKET_ROUTE_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _error:
        if _error.name != _name:
            raise
        continue
    websocket_urlpatterns += _module.websocket_urlpatterns
