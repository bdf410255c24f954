"""The project's ASGI application with static files served, for Daphne in end-to-end tests.

Production serves ``/static/`` from the reverse proxy; here Daphne does (``pytake.asgi`` only
does so when ``DEBUG`` is on).
"""

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from pytake.asgi import application as project_application
from pytake.asgi import django_asgi_app

application = ProtocolTypeRouter(
    {"http": ASGIStaticFilesHandler(django_asgi_app), "websocket": project_application.application_mapping["websocket"]}
)
