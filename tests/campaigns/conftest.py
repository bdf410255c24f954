import pytest

from tests.campaigns.builders import GraphServer


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_HTTP_TIMEOUT = 5
    return GraphServer(httpserver)
