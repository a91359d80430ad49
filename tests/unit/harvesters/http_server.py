"""A real HTTP server on the loopback address for harvester tests.

Harvest sources are remote portals we cannot run, so tests serve the real captured files
in tests/fixtures from a ``ThreadingHTTPServer`` on 127.0.0.1 and harvest them through the
real ``HttpFetcher`` (with loopback allowed explicitly). Use it as a context manager::

    with LocalHttpServer() as server:
        server.add_file("/data.json", FIXTURES / "datajson" / "cftc_gov__data.json")
        server.add("/slow", lambda request: Reply(body=b"..."))
        fetcher.get(server.url("/data.json"))

Every request is recorded (``server.requests``) so a test can check what was asked.
"""

import mimetypes
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


@dataclass
class Reply:
    status: int = 200
    # bytes are sent with a Content-Length; an iterable is sent chunk by chunk without one
    # (the connection closes at the end), as a server streaming a large file does.
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Reply]


def file_reply(path: Path, content_type: str | None = None) -> Reply:
    """The file's bytes, unchanged, with its media type."""
    guessed = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Reply(body=path.read_bytes(), headers={"Content-Type": guessed})


class LocalHttpServer:
    """A threading HTTP server on 127.0.0.1 and a free port, answering registered routes."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={name.lower(): value for name, value in self.headers.items()},
                )
                server.requests.append(request)
                route = server.routes.get(parts.path)
                reply = route(request) if route else Reply(404, b"not found")
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, bytes):
                    if "Content-Length" not in reply.headers:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in reply.body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on purpose (a size limit, a timeout)

            def log_message(self, format: str, *args) -> None:
                pass  # keep test output readable

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def add_file(self, path: str, file: Path, content_type: str | None = None) -> None:
        self.routes[path] = lambda request: file_reply(file, content_type)

    def __enter__(self) -> "LocalHttpServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
