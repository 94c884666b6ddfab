"""Selection of the week: near-identical titles, the editorial file, caps and weights."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import CompositionSettings, GatherSettings, Settings, SourceSettings
from digest.errors import ConfigError
from digest.models import GatherResult, IsoWeek
from digest.pipeline import pinned_composition
from digest.sources.gather import gather_articles
from tests.sitekit import FIXTURES, Reply, Site, orangesum_page, serve

PARIS = ZoneInfo("Europe/Paris")
W04 = IsoWeek(2025, 4)
AFTER_W04 = dt.datetime(2025, 1, 28, 10, 0, tzinfo=PARIS)


def rss(path: Path, *items: tuple[str, str, str]) -> SourceSettings:
    """Write an RSS feed of (title, link, date) items; return its source."""
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate>"
        f"<category>{'Sport' if 'match' in title else 'Ville'}</category>"
        f"<description>Texte de {title}.</description></item>"
        for title, link, date in items
    )
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://t.example/</link><description>D</description>{entries}</channel></rss>",
        encoding="utf-8",
    )
    return SourceSettings(name=path.stem, kind="feed", url=str(path))


def gather(sources: list[SourceSettings], settings: GatherSettings | None = None) -> GatherResult:
    return asyncio.run(gather_articles(sources, W04, PARIS, AFTER_W04, settings))


def test_the_same_story_under_near_identical_titles_is_kept_once(tmp_path: Path) -> None:
    first = rss(
        tmp_path / "a.xml",
        ("Le pont de l'Europe fermé trois semaines", "https://a.example/1", "2025-01-21"),
        ("Le maire inaugure la piscine", "https://a.example/2", "2025-01-22"),
    )
    second = rss(
        tmp_path / "b.xml",
        ("Le pont de l’Europe fermé pour trois semaines", "https://b.example/9", "2025-01-21"),
        ("LE MAIRE INAUGURE LA PISCINE !", "https://b.example/8", "2025-01-22"),
        ("Le pont de Bretagne rouvre", "https://b.example/7", "2025-01-21"),
    )
    result = gather([first, second])
    assert sorted(a.url for a in result.articles) == [
        "https://a.example/1",
        "https://a.example/2",
        "https://b.example/7",
    ]


def test_caps_keep_heavier_sources_then_newer_articles(tmp_path: Path) -> None:
    light = rss(
        tmp_path / "light.xml",
        ("Un match nul à domicile", "https://l.example/1", "2025-01-25"),
        ("La halle rénovée", "https://l.example/2", "2025-01-24"),
    )
    heavy = rss(
        tmp_path / "heavy.xml",
        ("Le match de la semaine", "https://h.example/1", "2025-01-20"),
        ("Un second match gagné", "https://h.example/2", "2025-01-21"),
        ("La rue piétonne", "https://h.example/3", "2025-01-22"),
    )
    heavy = heavy.model_copy(update={"weight": 3.0})
    settings = GatherSettings(max_articles=4, max_per_section=2)
    result = gather([light, heavy], settings)
    # Heavy first (3, 2, 1), then light: its Sport match finds the section full.
    assert [a.url for a in result.articles] == [
        "https://l.example/2",
        "https://h.example/3",
        "https://h.example/2",
        "https://h.example/1",
    ]
    assert result.notes == ("1 articles left out by the caps (max_articles, max_per_section)",)


def test_a_thin_week_is_reported(tmp_path: Path) -> None:
    source = rss(tmp_path / "a.xml", ("Seul article", "https://a.example/1", "2025-01-21"))
    result = gather([source], GatherSettings(min_articles=5))
    assert result.notes == ("thin week: 1 articles, fewer than min_articles = 5",)


def test_the_editorial_file_pins_excludes_and_adds(tmp_path: Path) -> None:
    source = rss(
        tmp_path / "fil.xml",
        ("Le match de la semaine", "https://f.example/1?utm_source=x", "2025-01-20"),
        ("La rue piétonne", "https://f.example/2", "2025-01-22"),
        ("Le marché de nuit", "https://f.example/3", "2025-01-23"),
    )
    site = Site(routes={"/291.html": orangesum_page("291")})
    editorial = tmp_path / "editorial"
    editorial.mkdir()
    with serve(site):
        (editorial / "2025-W04.toml").write_text(
            'featured = "http://F.example/1"\n'
            'exclude = ["https://f.example/3#top"]\n'
            f'add = ["{site.base}/291.html"]\n',
            encoding="utf-8",
        )
        result = gather([source], GatherSettings(editorial_dir=editorial, max_articles=3))
    assert result.featured_url == "https://f.example/1"
    urls = [a.url for a in result.articles]
    assert "https://f.example/1" in urls and "https://f.example/3" not in urls
    assert any(a.source == "éditorial" and "actu.orange.fr" in a.url for a in result.articles)
    fil = next(r for r in result.reports if r.source == "fil")
    assert fil.skipped == ("Le marché de nuit: excluded by the editorial file",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("featured = [1]", "'featured' must be one URL in quotes"),
        ("add = ['ftp://x']", "'add' has 'ftp://x', not an http(s) URL"),
        ("pin = 'x'", "unknown key 'pin' (featured, exclude, add)"),
        ("exclude = ", "is not valid TOML"),
    ],
)
def test_a_malformed_editorial_file_is_a_one_line_config_error(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "2025-W04.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"editorial file .*2025-W04\.toml") as caught:
        gather([], GatherSettings(editorial_dir=tmp_path))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_reads_saved_html_pages(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    shutil.copy(FIXTURES / "orangesum" / "4157.html", folder / "4157.html")
    source = SourceSettings(name="dossier", kind="folder", path=folder)
    week = IsoWeek.containing(dt.datetime(2020, 6, 1, 12, tzinfo=PARIS), PARIS)
    result = asyncio.run(gather_articles([source], week, PARIS, AFTER_W04))
    assert [a.title for a in result.articles] == [
        'Femmes de ménage: Ruffin (LFI) retire son texte "vidé" par la majorité'
    ]
    assert result.articles[0].url.startswith("https://actu.orange.fr/")


def test_the_gather_command_prints_a_table_per_source(tmp_path: Path) -> None:
    site = Site(routes={"/rss.xml": Reply(body=(FIXTURES / "rss.xml").read_bytes())})
    with serve(site):
        config = tmp_path / "digest.toml"
        config.write_text(
            "[gather]\nretries = 0\n"
            f'[[sources]]\nname = "Gazette"\nkind = "feed"\nurl = "{site.base}/rss.xml"\n'
            f'[[sources]]\nname = "Absente"\nkind = "feed"\nurl = "{site.base}/none.xml"\n',
            encoding="utf-8",
        )
        outcome = CliRunner().invoke(cli, ["--config", str(config), "gather", "--week", "2025-W04"])
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    assert lines[0].startswith("Week 2025-W04: ")
    assert lines[1].split() == ["source", "items", "kept", "skipped", "errors", "time"]
    gazette, absente = lines[2].split(), lines[3].split()
    assert gazette[0] == "Gazette" and gazette[-2] == "0" and int(gazette[2]) > 0
    assert absente[:6] == ["Absente", "0", "0", "0", "1", absente[5]]
    assert f"  Absente error: source 'Absente': {site.base}/none.xml: HTTP 404 Not Found" in lines


def test_the_editorial_pin_reaches_the_composition_settings() -> None:
    settings = Settings(composition=CompositionSettings(featured_url="https://old.example/"))
    pinned = GatherResult(articles=(), featured_url="https://f.example/1")
    assert pinned_composition(settings, pinned).featured_url == "https://f.example/1"
    assert pinned_composition(settings, GatherResult(articles=())) is settings.composition
