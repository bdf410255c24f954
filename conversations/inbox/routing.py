"""Websocket routes of the agent inbox."""

websocket_urlpatterns: list = []
