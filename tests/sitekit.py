"""A real HTTP server on 127.0.0.1 for the source tests: routes, failures, ETags, counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


@dataclass(frozen=True)
class Reply:
    """One answer of the server; ``{base}`` in the body becomes the server's base URL."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/xml; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    etag: str = ""


Route = Reply | list[Reply] | Callable[[str], Reply]


@dataclass
class Site:
    """Routes by path (a list answers in turn, its last reply repeating) and what was asked."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base: str = ""
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_for(self, target: str) -> Reply:
        route = self.routes.get(target) or self.routes.get(urlsplit(target).path)
        if route is None:
            return Reply(status=404, body=b"not found", content_type="text/plain")
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        if isinstance(route, Reply):
            return route
        return route(target)

    def paths(self) -> list[str]:
        return [urlsplit(target).path for target, _ in self.requests]


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with site.lock:
                site.requests.append((self.path, dict(self.headers.items())))
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
                reply = site.reply_for(self.path)
            try:
                time.sleep(reply.delay)
                self._answer(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as the timeout tests intend
            finally:
                with site.lock:
                    site.in_flight -= 1

        def _answer(self, reply: Reply) -> None:
            if reply.etag and self.headers.get("If-None-Match") == reply.etag:
                self.send_response(304)
                self.send_header("ETag", reply.etag)
                self.end_headers()
                return
            body = reply.body.replace(b"{base}", site.base.encode())
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            if reply.etag:
                self.send_header("ETag", reply.etag)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    """Run ``site`` on a free loopback port until the block ends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    httpd.daemon_threads = True
    site.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def orangesum_page(page_id: str) -> Reply:
    """A real OrangeSum article page (see fixtures/sources/README.md)."""
    body = (FIXTURES / "orangesum" / f"{page_id}.html").read_bytes()
    return Reply(body=body, content_type="text/html; charset=utf-8", etag=f'"page-{page_id}"')
