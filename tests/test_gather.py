"""Gathering the week: the window in Europe/Paris, date precisions, dedupe, broken sources."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.config import SourceSettings
from digest.errors import ArticleError
from digest.models import GatherResult, IsoWeek, SourceReport
from digest.sources.gather import gather_articles, parse_published
from digest.sources.urls import canonical_url, strip_tracking

PARIS = ZoneInfo("Europe/Paris")
W04 = IsoWeek(2025, 4)  # Monday 20 to Sunday 26 January 2025
AFTER_W04 = dt.datetime(2025, 1, 28, 10, 0, tzinfo=PARIS)
FIXTURES = Path(__file__).parent / "fixtures" / "sources"


class PageHandler(BaseHTTPRequestHandler):
    """Serves an HTML page at /page.html and 404 everywhere else."""

    def do_GET(self) -> None:
        if self.path == "/page.html":
            body = (FIXTURES / "page.html").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def rss(path: Path, *items: tuple[str, str, str, str]) -> SourceSettings:
    """Write an RSS feed of (title, link, guid, date) items; return its source."""
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<pubDate>{date}</pubDate><description>Texte de {title}.</description></item>"
        for title, link, guid, date in items
    )
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://t.example/</link><description>D</description>{entries}</channel></rss>",
        encoding="utf-8",
    )
    return SourceSettings(name=path.stem, kind="feed", url=str(path))


def markdown(folder: Path, name: str, title: str, date: str, url: str = "") -> None:
    folder.mkdir(exist_ok=True)
    url_line = f"url: {url}\n" if url else ""
    text = f"---\ntitle: {title}\ndate: {date}\n{url_line}---\n\nUn paragraphe de {title}.\n"
    (folder / name).write_text(text, encoding="utf-8")


def saved_page(folder: Path, name: str, date: str) -> None:
    folder.mkdir(exist_ok=True)
    text = f"date {date} Lecture Zen Résumer l'article\n\nLe club de tricot fête ses dix ans.\n"
    (folder / name).write_text(text, encoding="utf-8")


def folder_source(folder: Path, name: str = "dossier") -> SourceSettings:
    return SourceSettings(name=name, kind="folder", path=folder)


def gather(
    sources: list[SourceSettings], now: dt.datetime = AFTER_W04, week: IsoWeek = W04
) -> GatherResult:
    return asyncio.run(gather_articles(sources, week, PARIS, now))


def report(result: GatherResult, name: str) -> SourceReport:
    return next(r for r in result.reports if r.source == name)


def test_the_week_runs_from_monday_midnight_to_monday_midnight_paris_time(
    tmp_path: Path,
) -> None:
    source = rss(
        tmp_path / "fil.xml",
        ("Dimanche d'avant 23h30", "https://t.example/1", "1", "2025-01-19T23:30:00+01:00"),
        ("Lundi 0h30", "https://t.example/2", "2", "2025-01-19T23:30:00Z"),
        ("Dimanche 23h30", "https://t.example/3", "3", "2025-01-26T23:30:00+01:00"),
        ("Dimanche 23h59", "https://t.example/4", "4", "Sun, 26 Jan 2025 22:59:59 GMT"),
        ("Lundi suivant 0h30", "https://t.example/5", "5", "2025-01-26T23:30:00Z"),
    )
    result = gather([source])
    assert [a.title for a in result.articles] == ["Dimanche 23h59", "Dimanche 23h30", "Lundi 0h30"]
    assert result.articles[2].published == dt.datetime(2025, 1, 20, 0, 30, tzinfo=PARIS)
    assert report(result, "fil") == SourceReport(source="fil", items=5, kept=3)


def test_future_dated_articles_are_skipped_with_a_reason(tmp_path: Path) -> None:
    wednesday_noon = dt.datetime(2025, 1, 22, 12, 0, tzinfo=PARIS)
    source = rss(
        tmp_path / "fil.xml",
        ("Mardi", "https://t.example/1", "1", "2025-01-21T09:00:00+01:00"),
        ("Mercredi 11h59", "https://t.example/2", "2", "2025-01-22T11:59:00+01:00"),
        ("Mercredi 12h01", "https://t.example/3", "3", "2025-01-22T12:01:00+01:00"),
        ("L'an prochain", "https://t.example/4", "4", "2026-01-21T09:00:00+01:00"),
    )
    result = gather([source], now=wednesday_noon)
    assert [a.title for a in result.articles] == ["Mercredi 11h59", "Mardi"]
    assert report(result, "fil").skipped == (
        "Mercredi 12h01: dated 2025-01-22T12:01:00+01:00, in the future",
        "L'an prochain: dated 2026-01-21T09:00:00+01:00, in the future",
    )


def test_dates_of_every_precision_are_placed_in_the_week(tmp_path: Path) -> None:
    folder = tmp_path / "dossier"
    markdown(folder, "dimanche.md", "Un dimanche", "2025-01-26")
    markdown(folder, "naif.md", "Un lundi matin", "2025-01-20T08:00")
    markdown(folder, "lundi-suivant.md", "Le lundi suivant", "2025-01-27")
    saved_page(folder, "club-tricot.txt", "2025-01")
    result = gather([folder_source(folder)])
    published = {a.title: a.published for a in result.articles}
    assert published == {
        "Un dimanche": dt.datetime(2025, 1, 26, 12, 0, tzinfo=PARIS),
        "Un lundi matin": dt.datetime(2025, 1, 20, 8, 0, tzinfo=PARIS),
        "Le club de tricot fête ses dix ans": dt.datetime(2025, 1, 20, 0, 0, tzinfo=PARIS),
    }


def test_a_month_only_date_counts_from_the_start_of_the_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "dossier"
    saved_page(folder, "janvier.txt", "2025-01")
    early_february = dt.datetime(2025, 2, 10, tzinfo=PARIS)
    w05 = gather([folder_source(folder)], now=early_february, week=IsoWeek(2025, 5))
    assert [a.published for a in w05.articles] == [dt.datetime(2025, 1, 27, tzinfo=PARIS)]
    w06 = gather([folder_source(folder)], now=early_february, week=IsoWeek(2025, 6))
    assert w06.articles == ()
    (folder / "janvier.txt").rename(folder / "fevrier.txt")
    (folder / "fevrier.txt").write_text("date 2025-02\n\nLe club de tricot fête ses dix ans.\n")
    w05 = gather([folder_source(folder)], now=early_february, week=IsoWeek(2025, 5))
    assert [a.published for a in w05.articles] == [dt.datetime(2025, 2, 1, tzinfo=PARIS)]
    in_january = gather([folder_source(folder)], now=dt.datetime(2025, 1, 24, tzinfo=PARIS))
    assert in_january.articles == ()
    assert "in the future" in report(in_january, "dossier").skipped[0]


def test_duplicates_by_canonical_url_or_guid_keep_the_first_source(tmp_path: Path) -> None:
    feed = rss(
        tmp_path / "fil.xml",
        (
            "Le marché rouvre",
            "https://Gazette.example/marche/?utm_source=rss&amp;fbclid=abc&amp;id=7#haut",
            "g-1",
            "2025-01-21T09:00:00+01:00",
        ),
        ("La piscine ferme", "https://gazette.example/piscine?xtor=RSS-3", "g-2", "2025-01-22"),
        ("La piscine ferme (bis)", "https://autre.example/piscine", "g-2", "2025-01-22"),
    )
    folder = tmp_path / "dossier"
    markdown(
        folder, "marche.md", "Marché (copie)", "2025-01-21", "http://gazette.example/marche?id=7"
    )
    result = gather([feed, folder_source(folder)])
    assert [(a.title, a.url, a.source) for a in result.articles] == [
        ("La piscine ferme", "https://gazette.example/piscine", "fil"),
        ("Le marché rouvre", "https://Gazette.example/marche/?id=7", "fil"),
    ]
    assert report(result, "fil").kept == 2
    assert report(result, "dossier") == SourceReport(source="dossier", items=1, kept=0)


def test_one_broken_source_does_not_stop_the_others(tmp_path: Path, server: str) -> None:
    good_feed = rss(tmp_path / "bon.xml", ("Bon", "https://t.example/b", "b", "2025-01-21"))
    folder = tmp_path / "dossier"
    markdown(folder, "ok.md", "Du dossier", "2025-01-22")
    markdown(folder, "cassé.md", "Sans date", "")
    sources = [
        SourceSettings(name="absent", kind="folder", path=tmp_path / "absent"),
        SourceSettings(name="404", kind="feed", url=f"{server}/rss.xml"),
        SourceSettings(name="page", kind="feed", url=f"{server}/page.html"),
        SourceSettings(name="xml", kind="feed", url=str(FIXTURES / "malformed.xml")),
        good_feed,
        folder_source(folder),
    ]
    result = gather(sources)
    assert [a.title for a in result.articles] == ["Du dossier", "Bon"]
    errors = {r.source: r.errors for r in result.reports}
    assert errors["absent"] == (f"source 'absent': folder {tmp_path / 'absent'} does not exist",)
    assert errors["404"] == (f"source '404': {server}/rss.xml: HTTP 404 Not Found",)
    assert errors["page"] == (
        f"source 'page': {server}/page.html is an HTML page, not an RSS or Atom feed",
    )
    assert errors["xml"][0].startswith("source 'xml': ")
    assert "not well-formed XML" in errors["xml"][0]
    assert errors["bon"] == errors["dossier"] == ()
    assert report(result, "dossier") == SourceReport(
        source="dossier", items=2, kept=1, skipped=("cassé.md: front matter has no 'date'",)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-21T09:15:00+01:00", dt.datetime(2025, 1, 21, 9, 15, tzinfo=PARIS)),
        ("2025-01-21T08:15:00Z", dt.datetime(2025, 1, 21, 9, 15, tzinfo=PARIS)),
        ("2025-07-01T09:15", dt.datetime(2025, 7, 1, 9, 15, tzinfo=PARIS)),
        ("Tue, 21 Jan 2025 09:15:00 +0100", dt.datetime(2025, 1, 21, 9, 15, tzinfo=PARIS)),
        ("Tue, 21 Jan 2025 08:15:00 -0000", dt.datetime(2025, 1, 21, 9, 15, tzinfo=PARIS)),
        ("2025-01-21", dt.datetime(2025, 1, 21, 12, 0, tzinfo=PARIS)),
        ("21/01/2025", dt.datetime(2025, 1, 21, 12, 0, tzinfo=PARIS)),
        (" 2025-01 ", dt.datetime(2025, 1, 1, 0, 0, tzinfo=PARIS)),
    ],
)
def test_publication_dates_are_read_in_the_newsletter_timezone(
    text: str, expected: dt.datetime
) -> None:
    parsed = parse_published(text, PARIS)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["", "mardi", "2025-13", "2025-02-30", "32/01/2025"])
def test_an_unreadable_date_is_an_article_error(text: str) -> None:
    with pytest.raises(ArticleError, match="unreadable date"):
        parse_published(text, PARIS)


def test_urls_lose_tracking_parameters_and_share_one_canonical_key() -> None:
    url = "HTTP://Gazette.Example:80/a/b/?utm_medium=rss&at_medium=x&gclid=1&q=2&a=1#frag"
    assert strip_tracking(url) == "http://Gazette.Example:80/a/b/?q=2&a=1"
    assert canonical_url(url) == "https://gazette.example/a/b?a=1&q=2"
    assert canonical_url("https://gazette.example/a/b?q=2&a=1") == canonical_url(url)
    assert canonical_url("https://gazette.example:8443/") == "https://gazette.example:8443/"
    assert strip_tracking("https://t.example/p?q=a%20b") == "https://t.example/p?q=a%20b"
