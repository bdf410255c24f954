"""Listeners of the conversations app, loaded by ``pytake.events.load_listeners``."""

from conversations.inbox import listeners  # noqa: F401  (realtime fan-out to the inbox tabs)
