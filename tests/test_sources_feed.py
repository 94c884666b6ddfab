"""Feed sources and the fetcher, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from digest.config import SourceSettings
from digest.errors import SourceError
from digest.models import Article
from digest.sources.feed import read_feed
from digest.sources.fetching import USER_AGENT, Fetcher

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).parent / "fixtures" / "sources"


@dataclass(frozen=True)
class Route:
    """What the test server answers on one path."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/xml"),)
    delay: float = 0.0
    drip: bool = False
    declare_length: bool = True


class RecordingHandler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}
    user_agents: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.user_agents.append(self.headers.get("User-Agent", ""))
        route = self.routes.get(self.path, Route(status=404, body=b"not found"))
        time.sleep(route.delay)
        try:
            self.send_response(route.status)
            for name, value in route.headers:
                self.send_header(name, value)
            if route.declare_length:
                self.send_header("Content-Length", str(len(route.body) * (20 if route.drip else 1)))
            self.end_headers()
            self._write_body(route)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first, as the timeout tests intend

    def _write_body(self, route: Route) -> None:
        if not route.drip:
            self.wfile.write(route.body)
            return
        for _ in range(20):
            self.wfile.write(route.body)
            self.wfile.flush()
            time.sleep(0.05)

    def log_message(self, format: str, *args: object) -> None:
        pass


def fixture_route(name: str) -> Route:
    return Route(body=(FIXTURES / name).read_bytes())


ROUTES = {
    "/rss.xml": fixture_route("rss.xml"),
    "/atom.xml": fixture_route("atom.xml"),
    "/malformed.xml": fixture_route("malformed.xml"),
    "/empty.xml": fixture_route("empty.xml"),
    "/page.html": Route(
        body=(FIXTURES / "page.html").read_bytes(),
        headers=(("Content-Type", "text/html; charset=utf-8"),),
    ),
    "/json": Route(body=b'{"items": []}', headers=(("Content-Type", "application/json"),)),
    "/error": Route(status=500, body=b"boom"),
    "/moved": Route(status=301, headers=(("Location", "/rss.xml"),)),
    "/loop": Route(status=302, headers=(("Location", "/loop"),)),
    "/slow": Route(body=b"<rss/>", delay=0.6),
    "/drip": Route(body=b"x" * 10, drip=True),
    "/big": Route(body=b"x" * 5000),
    "/big-unannounced": Route(body=b"x" * 5000, declare_length=False),
}


@pytest.fixture
def server() -> Iterator[tuple[str, type[RecordingHandler]]]:
    handler = type("Handler", (RecordingHandler,), {"routes": ROUTES, "user_agents": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def feed_source(url: str, section: str = "Général") -> SourceSettings:
    return SourceSettings(name="La Gazette", kind="feed", url=url, section=section)


def read(url: str, fetcher: Fetcher | None = None) -> tuple[list[Article], list[str]]:
    async def run() -> tuple[list[Article], list[str]]:
        async with fetcher or Fetcher() as fetch:
            return await read_feed(feed_source(url), fetch, tz=PARIS)

    return asyncio.run(run())


def fetch(url: str, fetcher: Fetcher | None = None) -> bytes:
    async def run() -> bytes:
        async with fetcher or Fetcher() as client:
            return await client.get(url)

    return asyncio.run(run())


def test_an_rss_feed_gives_clean_articles(server: tuple[str, type[RecordingHandler]]) -> None:
    base, _ = server
    articles, skipped = read(f"{base}/rss.xml")
    market, library = articles
    assert market.title == "Le marché couvert rouvre après six mois de travaux"
    assert (
        market.url
        == "https://gazette.example/2025/01/marche-couvert?utm_source=rss&utm_medium=feed"
    )
    assert market.guid == "gazette-1001"
    assert market.published == dt.datetime(2025, 1, 21, 9, 15, tzinfo=PARIS)
    assert market.section == "Vie locale"
    assert market.author == "Claire Martin"
    assert market.image_url == "https://gazette.example/img/marche.jpg"
    assert market.source == "La Gazette"
    assert market.standfirst == (
        "Les commerçants retrouvent leurs étals dès samedi, sous une charpente restaurée."
    )
    assert market.text.split("\n\n") == [
        "Après six mois de chantier, le marché couvert accueille de nouveau ses vingt-deux "
        "commerçants.",
        "La charpente de 1890 a été restaurée & renforcée par des artisans de la région…",
        "Des horaires élargis",
        "Le marché ouvrira désormais le mardi soir, de 17\u00a0h à 20\u00a0h.",
    ]
    for noise in ("trackReader", "color: red", "Lire aussi", "Partager", "La halle, un matin"):
        assert noise not in market.text
    assert skipped == [
        "Un article à la date illisible: unreadable date 'le trente-deux janvier'",
        "https://gazette.example/2025/01/sans-titre: no title",
    ]
    assert library.title == "La bibliothèque prolonge ses horaires d’hiver"
    assert library.text == "La bibliothèque ouvrira jusqu'à 19 heures chaque jeudi."
    assert library.standfirst == ""
    assert library.author == "Paul Roux"
    assert library.section == "Général"
    assert library.image_url == ""  # the enclosure is http, not https
    assert library.published == dt.datetime(2025, 1, 20, 18, 0, tzinfo=PARIS)


def test_an_atom_feed_gives_clean_articles(server: tuple[str, type[RecordingHandler]]) -> None:
    base, _ = server
    articles, skipped = read(f"{base}/atom.xml")
    assert skipped == []
    jazz, bus = articles
    assert jazz.title == "Le festival de jazz dévoile sa programmation"
    assert jazz.url == "https://fil.example/culture/jazz-2025#programme"
    assert jazz.guid == "tag:fil.example,2025:jazz"
    assert jazz.published == dt.datetime(2025, 1, 22, 18, 30, tzinfo=PARIS)
    assert jazz.author == "Hugo Bernard"
    assert jazz.section == "Culture"
    assert jazz.image_url == "https://fil.example/img/jazz.png"
    assert jazz.standfirst == "Douze concerts sont annoncés pour la première semaine de juillet."
    assert jazz.text.split("\n\n") == [
        "Le festival de jazz a présenté mercredi les douze concerts de sa prochaine édition, "
        "dont trois gratuits en plein air.",
        "La billetterie ouvre le 1er février.",
    ]
    assert bus.published == dt.datetime(2025, 1, 23, 8, 45, tzinfo=PARIS)  # <updated> only
    assert bus.text == (
        "Les cars de la ligne 12 seront déviés pendant deux semaines.\n\n"
        "Un arrêt provisoire est installé rue des Écoles."
    )
    assert bus.section == "Général"


def test_a_feed_file_is_read_by_path_or_file_url() -> None:
    path = FIXTURES / "atom.xml"
    by_path, _ = read(str(path))
    by_url, _ = read(path.as_uri())
    assert (
        [a.title for a in by_path]
        == [a.title for a in by_url]
        == [
            "Le festival de jazz dévoile sa programmation",
            "Travaux sur la ligne de car 12",
        ]
    )


def test_a_valid_feed_without_items_gives_nothing(
    server: tuple[str, type[RecordingHandler]],
) -> None:
    assert read(f"{server[0]}/empty.xml") == ([], [])


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing.xml", r"/missing.xml: HTTP 404 Not Found$"),
        ("/error", r"/error: HTTP 500 Internal Server Error$"),
        ("/malformed.xml", r"is not well-formed XML \(line 2, column \d+: unclosed token\)$"),
        ("/page.html", r"/page.html is an HTML page, not an RSS or Atom feed$"),
        ("/json", r"/json is JSON but not a JSON Feed \(no jsonfeed.org 'version'\)$"),
    ],
)
def test_a_broken_feed_is_a_one_line_source_error_naming_the_source(
    server: tuple[str, type[RecordingHandler]], path: str, reason: str
) -> None:
    with pytest.raises(SourceError, match=reason) as caught:
        read(server[0] + path)
    message = str(caught.value)
    assert message.startswith("source 'La Gazette': ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://gazette.example/rss.xml", "unsupported URL scheme"),
        ("/nowhere/rss.xml", "cannot read /nowhere/rss.xml: No such file or directory"),
    ],
)
def test_an_unreadable_feed_location_is_a_source_error(url: str, reason: str) -> None:
    with pytest.raises(SourceError, match=reason):
        read(url)


def test_a_feed_needs_a_url_or_a_path() -> None:
    async def run() -> None:
        async with Fetcher() as fetcher:
            await read_feed(SourceSettings(name="vide", kind="feed"), fetcher)

    with pytest.raises(SourceError, match="needs a 'url' or a 'path'"):
        asyncio.run(run())


def test_the_fetcher_sends_an_honest_user_agent_and_follows_redirects(
    server: tuple[str, type[RecordingHandler]],
) -> None:
    base, handler = server
    assert fetch(f"{base}/moved") == (FIXTURES / "rss.xml").read_bytes()
    assert handler.user_agents == [USER_AGENT, USER_AGENT]
    assert USER_AGENT == "digest/0.1 (+newsletter digest)"


@pytest.mark.parametrize(
    ("path", "fetcher", "reason"),
    [
        ("/loop", Fetcher(), r"/loop: more than 5 redirects \(loop\?\)$"),
        ("/slow", Fetcher(timeout=httpx.Timeout(0.2)), r"/slow: timed out$"),
        ("/drip", Fetcher(deadline=0.3), r"/drip: timed out$"),
        ("/big", Fetcher(max_bytes=1024), r"body of 5000 bytes exceeds the 1 KB limit$"),
        ("/big-unannounced", Fetcher(max_bytes=1024), r"body exceeds the 1 KB limit$"),
    ],
)
def test_the_fetcher_turns_every_failure_into_a_one_line_source_error(
    server: tuple[str, type[RecordingHandler]], path: str, fetcher: Fetcher, reason: str
) -> None:
    with pytest.raises(SourceError, match=reason):
        fetch(server[0] + path, fetcher)


def test_a_refused_connection_is_a_source_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceError, match=f"http://127.0.0.1:{port}/rss.xml: "):
        fetch(f"http://127.0.0.1:{port}/rss.xml")


def test_the_fetcher_refuses_use_outside_its_context() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(Fetcher().get("http://127.0.0.1/"))
