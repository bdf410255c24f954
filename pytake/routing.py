"""Websocket routes of every app, for ``pytake.asgi``. Each module holds ``websocket_urlpatterns``."""

from pytake.app_modules import import_if_present

WEBSOCKET_ROUTE_MODULES = [
    "conversations.inbox.routing",
    "notifications.routing",
]

websocket_urlpatterns: list = []
for _module in filter(None, map(import_if_present, WEBSOCKET_ROUTE_MODULES)):
    websocket_urlpatterns += _module.websocket_urlpatterns
