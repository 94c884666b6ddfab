"""Article pages to clean text: real OrangeSum pages, and pages built with the noise named."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from digest.errors import ArticleError
from digest.extraction import ExtractedPage, extract_article, learn_boilerplate, remove_boilerplate

ORANGESUM = Path(__file__).parent / "fixtures" / "sources" / "orangesum"
EXPECTED = {
    row["id"]: row
    for row in map(json.loads, (ORANGESUM / "expected.jsonl").read_text("utf-8").splitlines())
}
NOISE = ("lecture zen", "résumer l", "publié le", "newsletter", "lire aussi")


def token_f1(found: str, expected: str) -> float:
    words = re.compile(r"\w+")
    got = collections.Counter(words.findall(found.lower()))
    want = collections.Counter(words.findall(expected.lower()))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def page(body: str, head: str = "", outside: str = "") -> str:
    return (
        f"<html><head><title>Le port de Sète accueille un voilier géant</title>{head}</head>"
        f"<body><nav><a href='/'>Accueil</a></nav>{outside}<article><h1>Le port de Sète "
        f"accueille un voilier géant</h1>{body}</article><footer>Mentions légales</footer>"
        "</body></html>"
    )


PARAGRAPHS = (
    "<p>Le trois-mâts, long de quatre-vingt-dix mètres, est entré dans le port mardi matin "
    "sous les applaudissements de plusieurs centaines de curieux venus des environs.</p>"
    "<p>Le navire restera à quai jusqu'à dimanche et se visitera tous les après-midi, "
    "a précisé la capitainerie, qui attend plusieurs milliers de visiteurs.</p>"
    "<p>Construit en Pologne dans les années quatre-vingt, il sert aujourd'hui de "
    "navire-école à une cinquantaine d'élèves officiers de la marine marchande.</p>"
)


@pytest.mark.parametrize("page_id", sorted(EXPECTED))
def test_a_real_page_gives_its_title_date_standfirst_and_body(page_id: str) -> None:
    expected = EXPECTED[page_id]
    found = extract_article((ORANGESUM / f"{page_id}.html").read_bytes())
    assert found.title.split() == expected["title"].split()
    assert found.published.startswith(expected["date"])
    assert found.standfirst.split() == expected["heading"].split()
    reference = expected["heading"] + " " + expected["article"]
    assert token_f1(found.standfirst + " " + found.text, reference) >= 0.98
    assert not any(noise in found.text.lower() for noise in NOISE)
    assert found.canonical_url.startswith("https://actu.orange.fr/")


def test_the_byline_and_the_image_of_a_real_page_are_read() -> None:
    found = extract_article((ORANGESUM / "14658.html").read_bytes())
    assert found.author == "Orange avec AFP-Services"
    assert found.image_url.startswith("http://media2.woopic.com/api/v1/images/")


@pytest.mark.parametrize(
    "label_markup",
    [
        "<p>Lecture Zen</p>",
        "<span>Résumer l'article</span>",
        '<div role="button">Lecture Zen</div>',
        "<div role='button'><span>Résumer l’article</span></div>",
        "<p>Publié le mardi 21 janvier 2025 à 10h32</p>",
        "<p>Par Jeanne Martin, publié le 21/01/2025 à 10h32, mis à jour le 22/01/2025</p>",
    ],
)
def test_ui_labels_and_published_lines_inside_the_body_never_reach_the_text(
    label_markup: str,
) -> None:
    body = PARAGRAPHS.replace("<p>Le navire", label_markup + "<p>Le navire")
    body = body.replace("mardi matin", "mardi matin <span>Lecture Zen</span>")
    found = extract_article(page(body))
    text = (found.standfirst + "\n" + found.text).lower()
    assert not any(noise in text for noise in ("lecture zen", "résumer l", "publié le"))
    assert "le navire restera à quai" in text
    assert "sous les applaudissements" in text


def test_newsletter_boxes_and_see_also_blocks_are_removed() -> None:
    newsletter = (
        '<div class="box"><p>Inscrivez-vous à notre newsletter pour recevoir l\'essentiel '
        "de l'actualité</p><form><input name='email'></form></div>"
    )
    see_also = (
        "<div><span>À lire aussi</span><ul><li><a href='/a'>Un autre voilier à Brest</a></li>"
        "<li><a href='/b'>La marine marchande recrute</a></li></ul></div>"
    )
    body = PARAGRAPHS.replace("<p>Construit", newsletter + see_also + "<p>Construit")
    found = extract_article(page(body))
    assert "newsletter" not in found.text.lower()
    assert "brest" not in found.text.lower() and "lire aussi" not in found.text.lower()
    assert found.paragraphs[-1].startswith("Construit en Pologne")


def test_a_standfirst_outside_the_body_container_is_kept_once() -> None:
    standfirst = (
        "Un navire-école polonais fait escale toute la semaine, pour la première fois "
        "depuis dix ans."
    )
    outside = f'<p class="article-chapo">{standfirst}</p>'
    found = extract_article(page(PARAGRAPHS, outside=outside))
    assert found.standfirst == standfirst
    assert standfirst not in found.text
    assert found.paragraphs[0].startswith("Le trois-mâts")


def test_the_description_is_the_standfirst_when_the_page_has_no_element_for_it() -> None:
    description = "Un navire-école polonais fait escale toute la semaine dans le port."
    head = f'<meta property="og:description" content="{description}">'
    found = extract_article(page(PARAGRAPHS, head=head))
    assert found.standfirst == description
    teaser = '<meta property="og:description" content="Le trois-mâts, long de quatre…">'
    assert extract_article(page(PARAGRAPHS, head=teaser)).standfirst == ""


def test_metadata_comes_from_the_page_markup() -> None:
    head = (
        '<meta property="article:published_time" content="2025-01-21T10:32:00+01:00">'
        '<meta name="author" content="Jeanne Martin">'
        '<meta property="og:image" content="//images.exemple.fr/voilier.jpg">'
        '<link rel="canonical" href="https://www.exemple.fr/sete/voilier">'
    )
    found = extract_article(page(PARAGRAPHS, head=head), "https://www.exemple.fr/x?utm_source=a")
    assert found.title == "Le port de Sète accueille un voilier géant"
    assert found.published == "2025-01-21T10:32:00+01:00"
    assert found.author == "Jeanne Martin"
    assert found.image_url == "https://images.exemple.fr/voilier.jpg"
    assert found.canonical_url == "https://www.exemple.fr/sete/voilier"


def test_lines_repeated_across_a_sources_pages_are_learned_and_removed() -> None:
    furniture = "Retrouvez toute l'actualité de la région sur notre site et nos réseaux"

    def made(index: int) -> ExtractedPage:
        return ExtractedPage(
            title=f"Article {index}",
            standfirst="",
            paragraphs=(f"Un texte propre à l'article numéro {index}.", furniture),
        )

    pages = [made(i) for i in range(5)]
    assert learn_boilerplate(pages) == {furniture.lower()}
    cleaned = remove_boilerplate(pages)
    assert [p.paragraphs for p in cleaned] == [
        (f"Un texte propre à l'article numéro {i}.",) for i in range(5)
    ]
    assert remove_boilerplate(pages[:2]) == pages[:2]  # two pages teach nothing


@pytest.mark.parametrize("html", ["<html><body><nav>Accueil</nav></body></html>", "", "   "])
def test_a_page_without_an_article_is_an_article_error(html: str) -> None:
    with pytest.raises(ArticleError):
        extract_article(html)
