"""Hostile and broken feeds and pages, served on 127.0.0.1: the issue is built from the rest."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

from digest.config import SourceSettings
from tests.sitekit import Reply, Site, serve
from tests.test_sources_http import gather, report
from tests.weekkit import digest

# What must never reach a reader: scripts, event handlers, frames, forms, javascript: and
# data: URLs, and the tracker's pixels.
ACTIVE = re.compile(
    r"<script|<iframe|<object|<embed|<form|\son[a-z]+\s*=|javascript:|vbscript:|data:|"
    r"track\.example|&lol|lollol",
    re.IGNORECASE,
)
PARAGRAPHS = "".join(
    f"<p>Le conseil municipal a débattu du projet {n} pour la place du marché, "
    "devant des habitants venus très nombreux ce soir-là.</p>"
    for n in range(5)
)
PAYLOAD = (
    '<script>alert("x")</script><p onclick="alert(1)">Les habitants ont voté pour '
    "la rénovation complète du vieux marché couvert de la ville.</p>"
    '<img src="https://track.example/pixel.gif" width="1" height="1" alt="">'
    '<a href="javascript:alert(2)">clic</a><iframe src="https://track.example/"></iframe>'
    '<img src="data:image/png;base64,AAAA" onerror="alert(3)">'
    '<p style="background:url(javascript:alert(4))">Le chantier durera deux ans.</p>'
    '<object data="https://track.example/x.swf"></object><form action="https://track.example/">'
    '<input name="q"></form><svg onload="alert(5)"><script>alert(6)</script></svg>'
)


def item(title: str, link: str, minute: int, description: str = PAYLOAD) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>g{minute}</guid>"
        f"<pubDate>Tue, 21 Jan 2025 09:{minute:02d}:00 +0100</pubDate>"
        f"<description><![CDATA[{description}]]></description>"
        '<media:content url="javascript:alert(7)" medium="image"/>'
        '<media:thumbnail url="http://track.example/pixel.gif"/></item>'
    )


HOSTILE_FEED = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
    'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>'
    "<link>https://t.example/</link><description>D</description>"
    + item(
        "&lt;script&gt;alert('t')&lt;/script&gt;Le marché &lt;b&gt;rouvre&lt;/b&gt;",
        "https://news.example/marche?utm_source=rss",
        0,
    )
    + item("Titre avec&#13;&#10;Bcc: victim@example.org ajouté", "https://news.example/bcc", 1)
    + item("Le lien piégé de la piscine", "javascript:alert(8)", 2)
    + item("Le lien en data de la gare", "data:text/html,&lt;script&gt;alert(9)&lt;/script&gt;", 3)
    + item("Le lien masqué du stade", " Java&#9;Script:alert(10)", 4)
    + "</channel></rss>"
).encode()
LOLS = "".join(
    f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10)
)  # ten to the ninth "lol"
BILLION_LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol1 "lol">{LOLS}]><rss version="2.0">'
    "<channel><title>&lol9;</title><item><title>&lol9;</title><link>https://x.example/a</link>"
    "<pubDate>Tue, 21 Jan 2025 09:00:00 +0100</pubDate><description>&lol9;</description>"
    "</item></channel></rss>"
).encode()
HOSTILE_PAGE = (
    "<!doctype html><html><head><title>Le port &lt;b&gt;rouvre&lt;/b&gt; ses quais"
    "<script>alert(16)</script></title>"
    '<meta property="og:image" content="javascript:alert(11)">'
    '<link rel="canonical" href="javascript:alert(12)">'
    '<meta property="article:published_time" content="2025-01-22T09:00:00+01:00">'
    '<script>alert(13)</script></head><body onload="alert(14)"><article>'
    f"<h1>Le port rouvre ses quais</h1>{PARAGRAPHS}"
    '<img src="https://track.example/p2.gif" width="1" height="1">'
    '<a href="javascript:alert(15)">lien</a></article></body></html>'
).encode()
# Written in windows-1252 without saying so, as old newsroom systems do.
WINDOWS_1252_PAGE = (
    "<html><head><title>Été à Noël : l’œuvre du chœur</title>"
    '<meta property="article:published_time" content="2025-01-23T09:00:00+01:00"></head>'
    "<body><article><h1>Été à Noël</h1>"
    + "".join(
        f"<p>Le chœur {n} a présenté à la presse une œuvre très ambitieuse pour l’été.</p>"
        for n in range(5)
    )
    + "</article></body></html>"
).encode("windows-1252")


def hostile_site() -> Site:
    return Site(
        routes={
            "/hostile.xml": Reply(body=HOSTILE_FEED),
            "/laughs.xml": Reply(body=BILLION_LAUGHS),
            "/huge.xml": Reply(body=b"<rss>" + b"<!-- x -->" * 700_000 + b"</rss>"),
            "/malformed.xml": Reply(body=HOSTILE_FEED[: len(HOSTILE_FEED) // 2]),
            "/port.html": Reply(body=HOSTILE_PAGE, content_type="text/html"),
            "/noel.html": Reply(body=WINDOWS_1252_PAGE, content_type="text/html"),
        }
    )


def test_hostile_items_are_skipped_or_defused_when_gathered() -> None:
    with serve(hostile_site()) as site:
        result = gather(
            [
                SourceSettings(name="hostile", kind="feed", url=f"{site.base}/hostile.xml"),
                SourceSettings(name="laughs", kind="feed", url=f"{site.base}/laughs.xml"),
                SourceSettings(name="pages", kind="page", urls=(f"{site.base}/noel.html",)),
            ]
        )
    hostile = report(result, "hostile")
    assert hostile.errors == ()
    assert hostile.skipped == (
        "Le lien piégé de la piscine: link 'javascript:alert(8)' is not an http(s) URL",
        "Le lien en data de la gare: link 'data:text/html,<script>alert(9)</script>' "
        "is not an http(s) URL",
        "Le lien masqué du stade: link 'Java\\tScript:alert(10)' is not an http(s) URL",
    )
    by_url = {a.url: a for a in result.articles}
    marche = by_url["https://news.example/marche"]
    assert marche.title == "Le marché rouvre"
    assert marche.text == (
        "Les habitants ont voté pour la rénovation complète du vieux marché couvert de la "
        "ville.\n\nclic\n\nLe chantier durera deux ans."
    )
    assert marche.image_url == ""
    assert by_url["https://news.example/bcc"].title == "Titre avec Bcc: victim@example.org ajouté"
    (laughs,) = report(result, "laughs").errors
    assert "declares XML entities and the XML parser refused it" in laughs
    assert report(result, "laughs").kept == 0
    noel = next(a for a in result.articles if a.source == "pages")
    assert noel.title == "Été à Noël : l’œuvre du chœur"
    assert "Le chœur 0 a présenté à la presse une œuvre très ambitieuse pour l’été." in noel.text


def test_a_week_of_hostile_sources_builds_an_issue_without_active_content(tmp_path: Path) -> None:
    with serve(hostile_site()) as site:
        config = tmp_path / "digest.toml"
        sources = "".join(
            f'[[sources]]\nname = "{name}"\nkind = "feed"\nurl = "{site.base}/{name}.xml"\n'
            'full_text = "never"\n'
            for name in ("hostile", "laughs", "huge", "malformed")
        )
        config.write_text(
            '[newsletter]\nfrom_address = "lettre@example.org"\n'
            'web_base_url = "https://lettre.example.org"\n'
            'unsubscribe_mailto = "desinscription@example.org"\n'
            f"{sources}"
            f'[[sources]]\nname = "pages"\nkind = "page"\nurls = ["{site.base}/port.html"]\n'
            '[gather]\nmax_body_kib = 4096\n[summarizer]\nkind = "lead"\n'
            '[database]\nurl = "sqlite:///ledger.db"\n',
            encoding="utf-8",
        )
        built = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert built.returncode == 0, built.stderr
    errors = [line.strip() for line in built.stdout.splitlines() if "error:" in line]
    assert len(errors) == 3
    assert "laughs.xml declares XML entities" in errors[0]
    assert errors[1].endswith("body of 7000011 bytes exceeds the 4096 KB limit")
    # Read despite the fault, so the half feed's items count (and are deduped) all the same.
    assert errors[2].endswith("malformed.xml: line 1, column 2415: unclosed CDATA section")
    out = tmp_path / "out"
    archive = (out / "issue.html").read_text(encoding="utf-8")
    text = (out / "issue.txt").read_text(encoding="utf-8")
    raw = (out / "preview.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    for where, content in [
        ("archive", archive),
        ("text file", text),
        ("html part", html_part.get_content()),
        ("text part", text_part.get_content()),
    ]:
        assert not ACTIVE.search(content), f"{where}: {ACTIVE.search(content)}"
        assert "Le marché rouvre" in content and "Le port rouvre ses quais" in content
        assert "piscine" not in content and "la gare" not in content
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) <= 998
    names = [line.split(b":")[0].lower() for line in head.split(b"\r\n") if line[:1] != b" "]
    assert b"bcc" not in names and len(names) == len(set(names))
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])


def charset_feed(name: str, declaration: str, encoding: str) -> Reply:
    body = (
        f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>T</title>'
        f"<item><title>{name} : l’été à Noël, œuvre</title><link>https://enc.example/{name}"
        "</link><pubDate>Tue, 21 Jan 2025 09:00:00 +0100</pubDate>"
        f"<description>Un été chaud pour {name}.</description></item></channel></rss>"
    )
    return Reply(body=body.encode(encoding))


def test_feeds_in_wrong_or_odd_charsets_are_read_as_written() -> None:
    feeds = {
        "Utf16": charset_feed("Utf16", ' encoding="utf-16"', "utf-16"),
        "Windows": charset_feed("Windows", ' encoding="windows-1252"', "cp1252"),
        # Undeclared windows-1252, and UTF-8 declared as Latin-1: both common CMS faults.
        "Undeclared": charset_feed("Undeclared", "", "cp1252"),
        "Mislabelled": charset_feed("Mislabelled", ' encoding="iso-8859-1"', "utf-8"),
        "Unknown": charset_feed("Unknown", ' encoding="x-no-such-charset"', "utf-8"),
    }
    site = Site(routes={f"/{name}.xml": reply for name, reply in feeds.items()})
    with serve(site):
        result = gather(
            [SourceSettings(name=n, kind="feed", url=f"{site.base}/{n}.xml") for n in feeds]
        )
    assert sorted(a.title for a in result.articles) == sorted(
        f"{name} : l’été à Noël, œuvre" for name in feeds
    )
    warnings = {r.source: r.errors for r in result.reports if r.errors}
    assert warnings == {
        "Undeclared": (
            f"source 'Undeclared': {site.base}/Undeclared.xml: document declared as utf-8, "
            "but parsed as windows-1252",
        ),
        "Unknown": (
            f"source 'Unknown': {site.base}/Unknown.xml: document declared as "
            "x-no-such-charset, but parsed as utf-8",
        ),
    }
