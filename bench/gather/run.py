"""Gather speed: 20 feeds x 50 items from a local HTTP server, 500 pages fetched and extracted.

    .venv/bin/python bench/gather/run.py PATH/orangesum/html [--runs 3]

A server on 127.0.0.1 (its own process, ThreadingHTTPServer, ETags on everything) serves 20
RSS feeds of 50 items each: half carry their full text (content:encoded), half only a teaser
ending in "[…]", so a gather fetches and extracts 500 article pages. The pages are the
OrangeSum pages, cycled, each made unique (a comment with its number), so no extraction is
shared. Each run: a cold gather (empty cache folder), then a warm one (same cache folder:
feeds revalidated with If-None-Match and answered 304, pages younger than
``page_max_age_hours`` not asked for, extractions read back). Baseline in the same run:
trafilatura alone on the same 500 pages, one after the other in this process. Medians of
``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import trafilatura

from digest.config import GatherSettings, SourceSettings
from digest.models import GatherResult, IsoWeek
from digest.sources.gather import gather_articles

FEEDS = 20
ITEMS = 50
PARIS = ZoneInfo("Europe/Paris")
WEEK = IsoWeek(2025, 4)
NOW = dt.datetime(2025, 1, 28, 10, 0, tzinfo=PARIS)
BODY = "<p>{n} Le texte complet de l'article, publié en entier dans le flux.</p>" * 6


def build_site(pages: list[bytes], port: int) -> dict[str, bytes]:
    """Path -> body of every feed and page of the benchmark."""
    site: dict[str, bytes] = {}
    for feed in range(FEEDS):
        items = []
        for item in range(ITEMS):
            n = feed * ITEMS + item
            link = f"http://127.0.0.1:{port}/pages/{n}.html"
            stamp = dt.datetime(2025, 1, 20, 8, tzinfo=PARIS) + dt.timedelta(minutes=7 * n)
            text = (
                f"<description>Les premières lignes de l'article {n} […]</description>"
                if item % 2
                else f"<description>Chapô {n}.</description>"
                f"<content:encoded><![CDATA[{BODY.format(n=n)}]]></content:encoded>"
            )
            items.append(
                f"<item><title>Article {feed}-{item}</title><link>{link}</link>"
                f"<guid>{n}</guid><pubDate>{stamp.isoformat()}</pubDate>{text}</item>"
            )
            if item % 2:
                page = pages[n % len(pages)]
                site[f"/pages/{n}.html"] = page.replace(b"<head", f"<!-- {n} --><head".encode(), 1)
        site[f"/feed/{feed}.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>F</title>'
            f"<link>https://f.example/</link><description>D</description>{''.join(items)}"
            "</channel></rss>"
        ).encode()
    return site


def serve(folder: str, port_queue: multiprocessing.Queue[int]) -> None:
    """The benchmark's HTTP server, in its own process."""
    pages = [p.read_bytes() for p in sorted(Path(folder).glob("*.html"))]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = httpd.server_address[1]
    site = build_site(pages, port)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = site.get(self.path)
            if body is None:
                self.send_error(404)
                return
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if "pages" in self.path else "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd.RequestHandlerClass = Handler
    httpd.daemon_threads = True
    port_queue.put(port)
    httpd.serve_forever(0.05)


def gather(port: int, cache: Path) -> tuple[float, GatherResult]:
    sources = [
        SourceSettings(name=f"f{i}", kind="feed", url=f"http://127.0.0.1:{port}/feed/{i}.xml")
        for i in range(FEEDS)
    ]
    settings = GatherSettings(cache_dir=cache, timeout_seconds=30, max_body_kib=5120)
    started = time.perf_counter()
    result = asyncio.run(gather_articles(sources, WEEK, PARIS, NOW, settings))
    return time.perf_counter() - started, result


def check(result: GatherResult) -> None:
    errors = [e for r in result.reports for e in r.errors]
    full = sum(1 for a in result.articles if "[…]" not in a.text)
    if errors or len(result.articles) != FEEDS * ITEMS or full != FEEDS * ITEMS:
        raise SystemExit(f"bad gather: {len(result.articles)} articles, {full} full, {errors[:3]}")


def baseline(folder: Path) -> float:
    """trafilatura alone on the same 500 pages (same bytes), one after the other."""
    pages = [p.read_text("utf-8") for p in sorted(folder.glob("*.html"))]
    count = FEEDS * ITEMS // 2
    started = time.perf_counter()
    for n in range(count):
        trafilatura.extract(pages[n % len(pages)].replace("<head", f"<!-- {n} --><head", 1))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="orangesum/html")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = context.Queue()
    server = context.Process(target=serve, args=(str(args.folder), ports), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=60)
        cold, warm, base = [], [], []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as cache:
                seconds, result = gather(port, Path(cache))
                check(result)
                cold.append(seconds)
                seconds, again = gather(port, Path(cache))
                check(again)
                if again.articles != result.articles:
                    raise SystemExit("the warm gather differs from the cold one")
                warm.append(seconds)
            base.append(baseline(args.folder))
            print(
                f"run {run + 1}: cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s, "
                f"trafilatura alone on the 500 pages {base[-1]:.2f} s"
            )
        print(
            f"median: cold {statistics.median(cold):.2f} s, warm {statistics.median(warm):.2f} s, "
            f"baseline {statistics.median(base):.2f} s "
            f"(cold / baseline {statistics.median(cold) / statistics.median(base):.2f})"
        )
    finally:
        server.terminate()
        server.join()
    sys.exit(0)


if __name__ == "__main__":
    main()
