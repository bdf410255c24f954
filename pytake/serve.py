"""``python -m pytake.serve …``: Daphne (same arguments), closing failed websockets with a close frame.

Autobahn, under Daphne, fails a connection by dropping TCP (``failByDrop``): a frame over
``--websocket_max_message_size`` (1 MiB by default) or invalid UTF-8 leaves the browser with a
bare 1006. Without it the peer gets the WebSocket close code — 1009 "message too big", 1007
"invalid payload" — and the close handshake.
"""

from daphne import server, ws_protocol
from daphne.cli import CommandLineInterface


class WebSocketFactory(ws_protocol.WebSocketFactory):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False)


server.WebSocketFactory = WebSocketFactory

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
