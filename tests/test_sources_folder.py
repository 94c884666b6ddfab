"""Folder sources: Markdown with front matter, saved pages, ignored and skipped files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest.config import SourceSettings
from digest.errors import ArticleError, SourceError
from digest.models import Article
from digest.sources.folder import FrontMatter, parse_front_matter, read_folder

PARIS = ZoneInfo("Europe/Paris")
DEMO = Path(__file__).resolve().parents[1] / "digest" / "demo" / "articles"

MARKDOWN = """---
title: Le conseil municipal adopte le budget
url: https://gazette.example/budget-2025
date: 2025-01-21T19:30:00+01:00
section: Politique
author: Jeanne Roche
image: https://gazette.example/img/budget.jpg
---

Le conseil municipal a adopté mardi soir un budget de **12 millions d'euros**.

## Les investissements

Une grande part ira à l'[école des Tilleuls](https://gazette.example/ecole) et à la voirie.
![Le conseil](https://gazette.example/img/conseil.jpg)

- la rénovation du gymnase ;
- deux pistes cyclables.

L'opposition a voté *contre*, jugeant la hausse de la taxe « trop forte ».
"""

SAVED_PAGE = (
    "date 2025-01-22 Lecture Zen Résumer l'article\n\n"
    "La piscine municipale fermera trois semaines pour vidange. "
    "Les nageurs iront au centre aquatique voisin.\n\n"
    "Les travaux commencent lundi.\n"
)


def folder_source(path: Path, *, base_url: str = "", section: str = "") -> SourceSettings:
    return SourceSettings(
        name="rédaction", kind="folder", path=path, base_url=base_url, section=section
    )


def read(path: Path, **options: str) -> tuple[dict[str, Article], list[str]]:
    articles, skipped = read_folder(folder_source(path, **options), PARIS)
    return {article.title: article for article in articles}, skipped


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_markdown_article_becomes_clean_text_with_its_front_matter(tmp_path: Path) -> None:
    write(tmp_path, "budget.md", MARKDOWN)
    articles, skipped = read(tmp_path)
    assert skipped == []
    article = articles["Le conseil municipal adopte le budget"]
    assert article.url == "https://gazette.example/budget-2025"
    assert article.published == dt.datetime(2025, 1, 21, 19, 30, tzinfo=PARIS)
    assert article.section == "Politique"
    assert article.author == "Jeanne Roche"
    assert article.image_url == "https://gazette.example/img/budget.jpg"
    assert article.source == "rédaction"
    assert article.standfirst == (
        "Le conseil municipal a adopté mardi soir un budget de 12 millions d'euros."
    )
    assert article.text.split("\n\n") == [
        "Les investissements",
        "Une grande part ira à l'école des Tilleuls et à la voirie.",
        "la rénovation du gymnase ;",
        "deux pistes cyclables.",
        "L'opposition a voté contre, jugeant la hausse de la taxe « trop forte ».",
    ]
    for marker in ("**", "##", "](", "![", "*contre*", "https://gazette.example/ecole"):
        assert marker not in article.text


def test_a_standfirst_key_keeps_the_first_paragraph_in_the_text(tmp_path: Path) -> None:
    text = MARKDOWN.replace("section: Politique\n", "standfirst: Un budget serré.\n")
    write(tmp_path, "budget.md", text)
    article = read(tmp_path, section="Vie locale")[0]["Le conseil municipal adopte le budget"]
    assert article.standfirst == "Un budget serré."
    assert article.text.startswith("Le conseil municipal a adopté mardi soir")
    assert article.section == "Vie locale"


def test_without_url_the_base_url_and_file_stem_make_the_url(tmp_path: Path) -> None:
    write(
        tmp_path,
        "budget-2025.md",
        MARKDOWN.replace("url: https://gazette.example/budget-2025\n", ""),
    )
    with_base = read(tmp_path, base_url="https://gazette.example/articles")[0]
    assert with_base["Le conseil municipal adopte le budget"].url == (
        "https://gazette.example/articles/budget-2025"
    )
    without_base = read(tmp_path)[0]
    assert without_base["Le conseil municipal adopte le budget"].url == ""


def test_an_http_image_is_dropped(tmp_path: Path) -> None:
    write(tmp_path, "a.md", MARKDOWN.replace("image: https://", "image: http://"))
    assert read(tmp_path)[0]["Le conseil municipal adopte le budget"].image_url == ""


def test_saved_pages_in_the_folder_are_articles_without_labels(tmp_path: Path) -> None:
    write(tmp_path, "piscine.txt", SAVED_PAGE)
    articles, skipped = read(tmp_path, base_url="https://gazette.example/", section="Vie locale")
    assert skipped == []
    (article,) = articles.values()
    assert article.title == "La piscine municipale fermera trois semaines pour vidange"
    assert article.url == "https://gazette.example/piscine"
    assert article.section == "Vie locale"
    assert article.published == dt.datetime(2025, 1, 22, 12, tzinfo=PARIS)
    assert article.text == "Les travaux commencent lundi."
    for value in (article.title, article.standfirst, article.text):
        assert "Lecture Zen" not in value
        assert "Résumer" not in value


def test_readme_attribution_hidden_and_draft_files_are_ignored_silently(tmp_path: Path) -> None:
    for name in ("README.md", "ATTRIBUTION.md", "LICENSE", "_brouillon.md", ".cache.md"):
        write(tmp_path, name, "not an article")
    (tmp_path / "images").mkdir()
    write(tmp_path, "budget.md", MARKDOWN)
    articles, skipped = read(tmp_path)
    assert list(articles) == ["Le conseil municipal adopte le budget"]
    assert skipped == []


def test_broken_and_unknown_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    write(tmp_path, "budget.md", MARKDOWN)
    write(tmp_path, "photo.jpg", "jpeg")
    write(tmp_path, "sans-date.md", MARKDOWN.replace("date: 2025-01-21T19:30:00+01:00\n", ""))
    write(tmp_path, "date-folle.md", MARKDOWN.replace("2025-01-21T19:30:00+01:00", "mardi"))
    write(tmp_path, "cle.md", MARKDOWN.replace("author:", "auteur:"))
    write(tmp_path, "page.txt", "Un texte sans ligne de date.")
    (tmp_path / "latin1.md").write_bytes("---\ntitle: Été\n---\n".encode("latin-1"))
    articles, skipped = read(tmp_path)
    assert list(articles) == ["Le conseil municipal adopte le budget"]
    assert sorted(skipped) == [
        "cle.md: front matter line 6: unknown key 'auteur' "
        "(title, url, date, section, image, author, standfirst)",
        "date-folle.md: unreadable date 'mardi'",
        "latin1.md: not UTF-8 text",
        "page.txt: first line is not 'date YYYY-MM' (or 'date YYYY-MM-DD')",
        "photo.jpg: not an article file (.md, .html or .txt)",
        "sans-date.md: front matter has no 'date'",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("title: Sans ouverture\n---\nTexte.", "must start with a '---' line"),
        ("---\ntitle: Jamais fermé\nTexte.", "not closed by a '---' line"),
        ("---\ntitle: Un\nune ligne sans deux-points\n---\n", "line 3: expected 'key: value'"),
        ("---\ntitle: Un\ntitle: Deux\n---\n", "line 3: 'title' given twice"),
    ],
)
def test_the_front_matter_parser_is_strict(text: str, reason: str) -> None:
    with pytest.raises(ArticleError, match=reason):
        parse_front_matter(text)


def test_front_matter_values_are_literal_except_one_pair_of_quotes() -> None:
    text = (
        "---\n"
        "# a comment line\n"
        'title: "Venise : la lagune retrouve son calme"\n'
        'author: "Sans touristes, Venise est morte", dit un gondolier\n'
        "url: https://exemple.fr/a?b=1#c\n"
        "---\nCorps.\n"
    )
    front, body = parse_front_matter(text)
    assert front == FrontMatter(
        title="Venise : la lagune retrouve son calme",
        author='"Sans touristes, Venise est morte", dit un gondolier',
        url="https://exemple.fr/a?b=1#c",
    )
    assert body == "Corps."


def test_a_missing_folder_or_a_file_as_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"rédaction.*does not exist"):
        read_folder(folder_source(tmp_path / "absent"), PARIS)
    file_path = write(tmp_path, "fichier.md", MARKDOWN)
    with pytest.raises(SourceError, match="is not a folder"):
        read_folder(folder_source(file_path), PARIS)
    with pytest.raises(SourceError, match="needs a 'path'"):
        read_folder(SourceSettings(name="rédaction", kind="folder"), PARIS)


def test_the_bundled_demo_articles_all_read_cleanly() -> None:
    articles, skipped = read_folder(folder_source(DEMO), PARIS)
    assert skipped == []
    assert len(articles) >= 12
    assert len({article.section for article in articles}) >= 4
    for article in articles:
        assert article.title and article.text and article.standfirst
        assert article.image_url == "" or article.image_url.startswith("https://")
        assert "Lecture Zen" not in article.text + article.standfirst + article.title
        assert ".L" not in article.text.replace("...", "")
    urls = [article.url for article in articles if article.url]
    assert all(url.startswith("https://actu.orange.fr/") for url in urls)
    assert len(urls) == len(articles) - 1  # the saved-page sample has no base_url here
