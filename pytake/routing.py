"""Websocket routes of every app, collected for ``pytake.asgi``."""

websocket_urlpatterns: list = []
