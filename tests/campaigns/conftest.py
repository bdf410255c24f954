import logging

import pytest
from pytest_httpserver import HTTPServer

from tests.campaigns.builders import GraphServer


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_HTTP_TIMEOUT = 5
    return GraphServer(httpserver)


@pytest.fixture
def threaded_graph(settings):
    """A Graph API server that answers concurrent connections (several worker processes keep theirs open)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    settings.WHATSAPP_GRAPH_BASE_URL = server.url_for("/v21.0")
    try:
        yield GraphServer(server)
    finally:
        server.clear()
        server.stop()
