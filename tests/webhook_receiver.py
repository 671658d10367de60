"""A real webhook receiver for tests and the benchmark: a threaded http.server on 127.0.0.1
that verifies each request's Standard Webhooks signature with the `standardwebhooks` library
and keeps what it accepted. It can be stopped and started again on the same port."""

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str, *, port: int = 0, status: int = 204):
        self.secret = secret
        self.status = status  # what every accepted request is answered with
        self.received: list[dict] = []  # verified bodies, in arrival order
        self.rejected: list[str] = []  # why unverifiable requests were refused
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as production receivers do

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver._connections.add(self.connection)

            def finish(self):
                with receiver.lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    with receiver.lock:
                        receiver.rejected.append(str(exc))
                    self._answer(400)
                    return
                if receiver.status < 300:
                    with receiver.lock:
                        receiver.received.append(
                            {**payload, "_webhook_id": self.headers["webhook-id"]}
                        )
                self._answer(receiver.status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill it: stop listening and cut every open (kept-alive) connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def bodies(self) -> list[dict]:
        with self.lock:
            return list(self.received)


def dumps(body: dict) -> str:
    return json.dumps(body, sort_keys=True)
