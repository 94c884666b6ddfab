"""Every source kind and every failure, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config import GatherSettings, SourceSettings
from digest.models import GatherResult, IsoWeek, SourceReport
from digest.sources.fetching import Fetcher
from digest.sources.fulltext import PageReader, PageResult
from digest.sources.gather import gather_articles
from tests.sitekit import FIXTURES, Reply, Site, orangesum_page, serve

PARIS = ZoneInfo("Europe/Paris")
W04 = IsoWeek(2025, 4)
AFTER_W04 = dt.datetime(2025, 1, 28, 10, 0, tzinfo=PARIS)
FAST = GatherSettings(timeout_seconds=0.5, retries=1)


def gather(sources: list[SourceSettings], settings: GatherSettings = FAST) -> GatherResult:
    return asyncio.run(gather_articles(sources, W04, PARIS, AFTER_W04, settings))


def report(result: GatherResult, name: str) -> SourceReport:
    return next(r for r in result.reports if r.source == name)


def rss_teasers(*pages: str) -> bytes:
    """An RSS 2.0 feed whose items carry only a cut teaser and link to local pages."""
    items = "".join(
        f"<item><title>Article {page}</title><link>{{base}}/pages/{page}.html</link>"
        f"<guid>{page}</guid><pubDate>Tue, 21 Jan 2025 09:{i:02d}:00 +0100</pubDate>"
        f"<description>Les premières lignes de l'article {page} […]</description></item>"
        for i, page in enumerate(pages)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://t.example/</link><description>D</description>{items}</channel></rss>"
    ).encode()


RDF = b"""<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel rdf:about="https://rdf.example/"><title>R</title><link>https://rdf.example/</link>
  <description>D</description></channel>
 <item rdf:about="https://rdf.example/a"><title>La foire aux livres revient au printemps</title>
  <link>https://rdf.example/a</link><dc:date>2025-01-22T08:00:00+01:00</dc:date>
  <dc:creator>Anne Petit</dc:creator><dc:subject>Culture</dc:subject>
  <description>Trois cents exposants sont attendus sur la place du village.</description></item>
</rdf:RDF>"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "J",
    "items": [
        {
            "id": "j-1",
            "url": "https://json.example/tram",
            "title": "Le tramway roulera la nuit le week-end",
            "summary": "Une ligne de nuit pour l'été.",
            "content_html": "<p>Dès juin, le tramway circulera jusqu'à deux heures.</p>"
            "<p>Publié le 23/01/2025 à 10h00</p>",
            "date_published": "2025-01-23T09:00:00+01:00",
            "authors": [{"name": "Marc Blanc"}],
            "tags": ["Transports"],
            "image": "https://json.example/tram.jpg",
        },
        {"id": "j-2", "title": "Sans date", "content_text": "Un texte."},
    ],
}


def wordpress_posts(target: str) -> Reply:
    """A fake /wp-json/wp/v2/posts: 101 posts over two pages, with _embed data."""
    page = 2 if "page=2" in target else 1
    numbers = range(1, 101) if page == 1 else range(101, 102)
    posts = [
        {
            "id": n,
            "link": f"https://wp.example/{n}",
            "guid": {"rendered": f"https://wp.example/?p={n}"},
            "date_gmt": "2025-01-24T08:00:00",
            "title": {"rendered": f"Conseil municipal n&deg;{n} : le budget voté"},
            "content": {"rendered": f"<p>Le conseil a voté le budget {n}.</p><p>Lecture Zen</p>"},
            "excerpt": {"rendered": "<p>Le budget est adopté à l'unanimité.</p>"},
            "_embedded": {
                "author": [{"name": "Léa Roy"}],
                "wp:featuredmedia": [{"source_url": f"https://wp.example/img/{n}.jpg"}],
                "wp:term": [[{"taxonomy": "category", "name": "Politique"}], []],
            },
        }
        for n in numbers
    ]
    return Reply(body=json.dumps(posts).encode(), content_type="application/json")


def test_every_source_kind_is_read_with_full_text_where_feeds_only_tease() -> None:
    site = Site(
        routes={
            "/teasers.xml": Reply(body=rss_teasers("14658", "4157")),
            "/pages/14658.html": orangesum_page("14658"),
            "/pages/4157.html": orangesum_page("4157"),
            "/pages/291.html": orangesum_page("291"),
            "/rdf.xml": Reply(body=RDF),
            "/feed.json": Reply(
                body=json.dumps(JSON_FEED).encode(), content_type="application/json"
            ),
            "/wp-json/wp/v2/posts": wordpress_posts,
        }
    )
    with serve(site):
        result = gather(
            [
                SourceSettings(name="teasers", kind="feed", url=f"{site.base}/teasers.xml"),
                SourceSettings(name="rdf", kind="feed", url=f"{site.base}/rdf.xml"),
                SourceSettings(name="json", kind="feed", url=f"{site.base}/feed.json"),
                SourceSettings(name="wp", kind="wordpress", url=site.base),
                SourceSettings(name="pages", kind="page", urls=(f"{site.base}/pages/291.html",)),
            ]
        )
    by_title = {a.title: a for a in result.articles}
    venise = by_title["Article 14658"]
    assert venise.standfirst.startswith("Le bateau de croisière, long de 275 m")
    assert "Corriere della Serra" in venise.text and "[…]" not in venise.text
    assert "publié le" not in venise.text.lower()
    assert report(result, "teasers") == SourceReport(source="teasers", items=2, kept=2)
    rdf = by_title["La foire aux livres revient au printemps"]
    assert (rdf.author, rdf.section, rdf.url) == ("Anne Petit", "Culture", "https://rdf.example/a")
    tram = by_title["Le tramway roulera la nuit le week-end"]
    assert (tram.standfirst, tram.text) == (
        "Une ligne de nuit pour l'été.",
        "Dès juin, le tramway circulera jusqu'à deux heures.",
    )
    assert (tram.author, tram.section, tram.image_url) == (
        "Marc Blanc",
        "Transports",
        "https://json.example/tram.jpg",
    )
    assert report(result, "json").skipped == ("Sans date: no publication date",)
    wp = [a for a in result.articles if a.source == "wp"]
    assert len(wp) == 101 and report(result, "wp").items == 101
    first = by_title["Conseil municipal n°1 : le budget voté"]
    assert (first.text, first.standfirst) == (
        "Le conseil a voté le budget 1.",
        "Le budget est adopté à l'unanimité.",
    )
    assert (first.author, first.section, first.image_url) == (
        "Léa Roy",
        "Politique",
        "https://wp.example/img/1.jpg",
    )
    wp_queries = [target for target, _ in site.requests if target.startswith("/wp-json")]
    assert len(wp_queries) == 2
    assert "after=2025-01-19T23%3A00%3A00" in wp_queries[0] and "_embed=1" in wp_queries[0]
    assert "before=2025-01-26T23%3A00%3A00" in wp_queries[0] and "page=2" in wp_queries[1]
    extra = [a for a in result.articles if a.source == "pages"]
    assert [a.title for a in extra] == [
        'Remaniement: Macron en train "d\'arrêter sa ligne" avant de passer au "casting"'
    ]
    assert extra[0].url.startswith("https://actu.orange.fr/")


def test_broken_sources_are_reported_one_line_each_and_the_rest_make_the_issue() -> None:
    wrong_encoding = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>Été à Noël</title><link>https://enc.example/1</link>"
        "<pubDate>Tue, 21 Jan 2025 09:00:00 +0100</pubDate><description>Un été chaud."
        "</description></item></channel></rss>"
    ).encode("latin-1")
    site = Site(
        routes={
            "/good.xml": Reply(body=(FIXTURES / "rss.xml").read_bytes()),
            "/slow.xml": Reply(body=b"<rss/>", delay=1.5),
            "/malformed.xml": Reply(body=(FIXTURES / "malformed.xml").read_bytes()),
            "/latin1.xml": Reply(body=wrong_encoding),
            "/page.html": Reply(body=b"<!doctype html><html><body>Hi</body></html>"),
            "/error.xml": Reply(status=500, body=b"boom"),
            "/loop": Reply(status=302, headers=(("Location", "/loop"),)),
            "/teasers.xml": Reply(body=rss_teasers("14658")),
        }
    )
    names = ["good", "slow", "malformed", "latin1", "page", "missing", "error", "loop", "teasers"]
    paths = ["good.xml", "slow.xml", "malformed.xml", "latin1.xml", "page.html"]
    paths += ["missing.xml", "error.xml", "loop", "teasers.xml"]
    with serve(site):
        sources = [
            SourceSettings(name=name, kind="feed", url=f"{site.base}/{path}")
            for name, path in zip(names, paths, strict=True)
        ]
        sources.append(SourceSettings(name="wp", kind="wordpress", url=f"{site.base}/nowp"))
        result = gather(sources)
    errors = {r.source: r.errors for r in result.reports}
    assert errors["good"] == ()
    assert errors["slow"] == (f"source 'slow': {site.base}/slow.xml: timed out",)
    assert "is not well-formed XML (line 2" in errors["malformed"][0]
    assert errors["latin1"] == (
        f"source 'latin1': {site.base}/latin1.xml: document declared as utf-8, but parsed as "
        "windows-1252",
    )
    assert errors["page"][0].endswith("is an HTML page, not an RSS or Atom feed")
    assert errors["missing"][0].endswith("/missing.xml: HTTP 404 Not Found")
    assert errors["error"][0].endswith("/error.xml: HTTP 500 Internal Server Error")
    assert errors["loop"][0].endswith("/loop: more than 5 redirects (loop?)")
    assert errors["teasers"] == (
        "Article 14658: full text not read, teaser kept "
        f"({site.base}/pages/14658.html: HTTP 404 Not Found)",
    )
    assert "HTTP 404 Not Found" in errors["wp"][0]
    assert site.paths().count("/error.xml") == 2  # one retry after a 5xx
    titles = {a.title for a in result.articles}
    assert "Le marché couvert rouvre après six mois de travaux" in titles
    assert {"Été à Noël", "Article 14658"} <= titles
    teaser = next(a for a in result.articles if a.title == "Article 14658")
    assert teaser.text == "Les premières lignes de l'article 14658 […]"


def test_a_rebuild_revalidates_feeds_and_does_not_fetch_pages_again(tmp_path: Path) -> None:
    site = Site(
        routes={
            "/teasers.xml": Reply(body=rss_teasers("14658", "4157"), etag='"feed-1"'),
            "/pages/14658.html": orangesum_page("14658"),
            "/pages/4157.html": orangesum_page("4157"),
        }
    )
    settings = GatherSettings(cache_dir=tmp_path / "cache", timeout_seconds=2)
    with serve(site):
        source = SourceSettings(name="t", kind="feed", url=f"{site.base}/teasers.xml")
        first = gather([source], settings)
        second = gather([source], settings)
        settings_stale = settings.model_copy(update={"page_max_age_hours": 0})
        third = gather([source], settings_stale)
    assert first.articles == second.articles == third.articles
    assert (
        len(first.articles) == 2 and "Corriere" in first.articles[1].text + first.articles[0].text
    )
    # First build: feed and pages; second: the feed only; third (pages stale): all, conditional.
    assert [p for p in site.paths() if p == "/teasers.xml"] == ["/teasers.xml"] * 3
    assert sorted(site.paths()[1:3]) == ["/pages/14658.html", "/pages/4157.html"]
    assert site.paths()[3:5] == ["/teasers.xml", "/teasers.xml"]
    feed_requests = [headers for target, headers in site.requests if target == "/teasers.xml"]
    assert "If-None-Match" not in feed_requests[0]
    assert feed_requests[1]["If-None-Match"] == '"feed-1"'
    page_requests = [h for t, h in site.requests if t.startswith("/pages/")]
    assert len(page_requests) == 4  # fetched on the first build, revalidated when stale only
    assert all(h.get("If-None-Match", "").startswith('"page-') for h in page_requests[2:])
    assert all(h["User-Agent"] == "digest/0.1 (+newsletter digest)" for _, h in site.requests)


def test_requests_to_one_host_never_exceed_the_per_host_limit() -> None:
    pages = [f"{n}" for n in range(12)]
    routes: dict[str, Reply | list[Reply]] = {
        "/teasers.xml": Reply(body=rss_teasers(*pages)),
    }
    for page in pages:
        body = (FIXTURES / "orangesum" / "4157.html").read_bytes()
        routes[f"/pages/{page}.html"] = Reply(body=body, content_type="text/html", delay=0.1)
    site = Site(routes=dict(routes))
    with serve(site):
        source = SourceSettings(name="t", kind="feed", url=f"{site.base}/teasers.xml")
        result = gather([source], GatherSettings(per_host=3, timeout_seconds=5))
    assert site.max_in_flight == 3
    assert len(site.requests) == 13
    # Twelve copies of one page under twelve teaser titles are twelve articles.
    assert report(result, "t").kept == 12
    # Copies of one page teach no boilerplate: every article keeps the page's full text.
    assert all("Ruffin" in a.text and "[…]" not in a.text for a in result.articles)


def test_a_5xx_answer_is_retried_and_then_read() -> None:
    site = Site(
        routes={
            "/flaky.xml": [
                Reply(status=503, body=b"busy"),
                Reply(body=(FIXTURES / "rss.xml").read_bytes()),
            ]
        }
    )
    with serve(site):
        source = SourceSettings(name="flaky", kind="feed", url=f"{site.base}/flaky.xml")
        result = gather([source])
    assert site.paths() == ["/flaky.xml", "/flaky.xml"]
    assert report(result, "flaky").errors == () and report(result, "flaky").kept > 0


def test_a_teasers_page_canonical_url_dedupes_it_against_another_feed() -> None:
    paragraphs = "".join(
        f"<p>Le paragraphe {n} de l'histoire du pont, assez long pour être un texte.</p>"
        for n in range(4)
    )
    story = (
        "<html><head><title>Le pont rouvre</title>"
        '<link rel="canonical" href="{base}/story">'
        '<meta property="article:published_time" content="2025-01-21T09:00:00+01:00">'
        f"</head><body><article><h1>Le pont rouvre</h1>{paragraphs}</article></body></html>"
    ).encode()
    full = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>B</title>'
        "<item><title>Réouverture du pont après travaux</title><link>{base}/story</link>"
        "<pubDate>Tue, 21 Jan 2025 10:00:00 +0100</pubDate><description>Le pont a rouvert."
        "</description></item></channel></rss>"
    ).encode()
    teaser = rss_teasers("x").replace(b"/pages/x.html", b"/p?id=1&amp;utm_source=rss")
    site = Site(
        routes={
            "/a.xml": Reply(body=teaser),
            "/b.xml": Reply(body=full),
            "/p": Reply(body=story, content_type="text/html"),
        }
    )
    with serve(site):
        result = gather(
            [
                SourceSettings(name="a", kind="feed", url=f"{site.base}/a.xml"),
                SourceSettings(name="b", kind="feed", url=f"{site.base}/b.xml"),
            ]
        )
    assert [(a.source, a.url) for a in result.articles] == [("a", f"{site.base}/story")]
    assert result.articles[0].text.startswith("Le paragraphe 0 de l'histoire du pont")


def test_pages_extracted_in_worker_processes_match_those_extracted_in_a_thread() -> None:
    ids = ["14658", "4157", "291"]
    site = Site(routes={f"/pages/{i}.html": orangesum_page(i) for i in ids})

    async def read(pool_threshold: int) -> list[PageResult]:
        async with Fetcher() as fetcher, PageReader(fetcher, pool_threshold=pool_threshold) as r:
            return await r.read_pages([f"{site.base}/pages/{i}.html" for i in ids])

    with serve(site):
        in_processes = asyncio.run(read(pool_threshold=1))
        in_thread = asyncio.run(read(pool_threshold=100))
    assert in_processes == in_thread
    assert all(result.page is not None and result.page.standfirst for result in in_processes)
