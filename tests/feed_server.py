"""A real HTTP server on loopback for ingest tests: feeds and pages with chosen behaviour.

Load it as a pytest plugin (``pytest_plugins = ["tests.feed_server"]``) and use the fixtures:

- ``feed_server``: a ``FeedServer`` started for the test; ``feed_server.add("/feed", body)``
  then fetch ``feed_server.url("/feed")``. Routes can set status, headers, ETag /
  Last-Modified (conditional GETs get 304), a delay before answering, a huge streamed body,
  or a redirect.
- ``closed_port_url``: an http URL on a loopback port nobody listens on (connection refused).

The server runs in a thread (stdlib ``http.server``), so it works with any event loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.urlpolicy import UrlPolicy

#: The URL policy refuses loopback for feed content; tests whose "public" pages and images are
#: served from these loopback servers allow it explicitly, as an operator would a private net.
LOOPBACK_ALLOWED = UrlPolicy.allowing(["127.0.0.0/8"])


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before the status line is sent
    stream_bytes: int = 0  # > 0: send this many bytes in chunks, without Content-Length
    declare_length: bool = True
    drip: float = 0.0  # > 0: send the body one byte every this many seconds


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


class FeedServer:
    """Routes by exact path (query string included when the route has one).

    ``host``: the loopback address to listen on (``127.0.0.2`` or ``::1`` stand for other
    machines in the URL-policy tests); ``port``: 0 for any free one.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_HEAD(self) -> None:
                server._handle(self)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self._httpd = Server((host, port), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # ------------------------------------------------------------ configuring routes

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str | None = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        delay: float = 0.0,
        declare_length: bool = True,
    ) -> str:
        """Serve ``body`` at ``path``; returns the full URL."""
        all_headers = dict(headers or {})
        if content_type:
            all_headers.setdefault("Content-Type", content_type)
        self.routes[path] = Route(
            body=body.encode() if isinstance(body, str) else body,
            status=status,
            headers=all_headers,
            etag=etag,
            last_modified=last_modified,
            delay=delay,
            declare_length=declare_length,
        )
        return self.url(path)

    def add_file(self, path: str, file: Path, *, content_type: str | None = None) -> str:
        if content_type is None:
            suffix = file.suffix.lower()
            content_type = {
                ".json": "application/feed+json",
                ".html": "text/html; charset=utf-8",
            }.get(suffix, "application/xml")
        return self.add(path, file.read_bytes(), content_type=content_type)

    def add_huge(self, path: str, size: int, *, declare_length: bool = False) -> str:
        """Stream ``size`` bytes of a never-ending-looking feed at ``path``."""
        self.routes[path] = Route(
            status=200,
            headers={"Content-Type": "application/rss+xml"}
            | ({"Content-Length": str(size)} if declare_length else {}),
            stream_bytes=size,
        )
        return self.url(path)

    def add_drip(self, path: str, body: bytes | str, *, every: float = 1.0,
                 content_type: str = "text/html; charset=utf-8") -> str:
        """Serve ``body`` at ``path`` one byte every ``every`` seconds (a site on its knees,
        or one holding the bot on purpose): the headers come at once, the body never ends soon.
        """
        self.routes[path] = Route(
            body=body.encode() if isinstance(body, str) else body,
            headers={"Content-Type": content_type}, drip=every)
        return self.url(path)

    def redirect(self, path: str, to: str, *, status: int = 302) -> str:
        target = to if to.startswith("http") else self.url(to)
        self.routes[path] = Route(status=status, headers={"Location": target})
        return self.url(path)

    # ------------------------------------------------------------ serving

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        self.requests.append(SeenRequest(handler.command, handler.path, headers))
        route = self.routes.get(handler.path) or self.routes.get(handler.path.split("?")[0])
        if route is None:
            route = Route(body=b"not found", status=404, headers={"Content-Type": "text/plain"})
        deadline = time.monotonic() + route.delay
        while time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.01)
        if self._stop.is_set():
            return
        not_modified = (route.etag is not None and headers.get("if-none-match") == route.etag) or (
            route.last_modified is not None
            and headers.get("if-modified-since") == route.last_modified
        )
        try:
            if not_modified:
                handler.send_response(304)
                if route.etag:
                    handler.send_header("ETag", route.etag)
                handler.end_headers()
                return
            handler.send_response(route.status)
            for name, value in route.headers.items():
                handler.send_header(name, value)
            if route.etag:
                handler.send_header("ETag", route.etag)
            if route.last_modified:
                handler.send_header("Last-Modified", route.last_modified)
            if route.stream_bytes:
                handler.end_headers()
                chunk = b"<rss><channel>" + b"x" * 65536
                sent = 0
                while sent < route.stream_bytes and not self._stop.is_set():
                    piece = chunk[: route.stream_bytes - sent]
                    handler.wfile.write(piece)
                    sent += len(piece)
                return
            if route.declare_length:
                handler.send_header("Content-Length", str(len(route.body)))
            handler.end_headers()
            if route.drip:
                handler.wfile.flush()
                for byte in route.body:
                    if self._stop.wait(route.drip):
                        return
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                return
            if handler.command != "HEAD":
                handler.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a size cap or timeout test): that is the point

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL whose port was free a moment ago: connecting to it is refused."""
    return f"http://127.0.0.1:{free_port()}/feed.xml"
