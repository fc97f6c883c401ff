"""The agent's local HTTP endpoint: `GET /health` (JSON), `GET /metrics` (Prometheus) and
`POST /signal` (a smart bin's lid and card signals). It listens on loopback by default."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)
MAX_SIGNAL_BYTES = 10_000


class LocalServer:
    def __init__(
        self,
        host: str,
        port: int,
        health: Callable[[], dict[str, Any]],
        metrics: Callable[[], str],
        signal: Callable[[dict[str, Any]], None],
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

            def _reply(self, code: int, body: str, kind: str = "application/json") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, metrics(), "text/plain; version=0.0.4")
                elif self.path == "/health":
                    self._reply(200, json.dumps(health()))
                else:
                    self._reply(404, '{"detail": "not found"}')

            def do_POST(self) -> None:
                if self.path != "/signal":
                    self._reply(404, '{"detail": "not found"}')
                    return
                try:
                    length = min(int(self.headers.get("Content-Length", "0")), MAX_SIGNAL_BYTES)
                    signal(json.loads(self.rfile.read(length) or b"{}"))
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    self._reply(422, json.dumps({"detail": str(exc)}))
                    return
                self._reply(200, '{"ok": true}')

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
