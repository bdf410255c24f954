"""Websocket routes of the agent inbox."""

from django.urls import path

from conversations.inbox.consumers import InboxConsumer

websocket_urlpatterns: list = [path("ws/inbox/", InboxConsumer.as_asgi())]
