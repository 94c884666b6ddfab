"""Saved pages: the date line, the standfirst, subheadings, the title rule, no label left."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from digest.errors import ArticleError
from digest.sources.dates import Precision
from digest.sources.saved_page import TITLE_MAX_CHARS, SavedPage, headline, parse_saved_page

PARIS = ZoneInfo("Europe/Paris")
LABELS = ("Lecture Zen", "Résumer l'article", "Résumer l’article", "Partager", "Lire aussi")

PAGE = "\n".join(
    [
        " date 2025-01 Lecture Zen Résumer l'article",
        "",
        "Au lendemain de la crue, la commune de Port-Rivière, le long de la Garonne, compte ses "
        "dégâts et prépare le nettoyage des quais. Les bénévoles sont attendus samedi matin.",
        "",
        "Le niveau de l'eau a commencé à baisser dans la nuit de mardi à mercredi. "
        "Les pompiers ont évacué une dizaine de caves inondées.",
        "",
        "Partager",
        "",
        "Un élan de solidarité",
        "",
        "Lire aussi : La crue de 1930 racontée par les archives",
        "",
        "L'association des commerçants prête ses locaux.Les habitants y déposent des bottes "
        "et des pelles.",
        "",
        "Publié le 22/01/2025 à 10h30",
        "",
    ]
)


def parse(text: str = PAGE, name: str = "crue-port-riviere") -> SavedPage:
    return parse_saved_page(text, name=name, tz=PARIS)


def test_the_standfirst_is_the_first_paragraph_and_the_body_follows() -> None:
    page = parse()
    assert page.standfirst.startswith("Au lendemain de la crue, la commune de Port-Rivière")
    assert page.standfirst.endswith("Les bénévoles sont attendus samedi matin.")
    assert page.text.split("\n\n") == [
        "Le niveau de l'eau a commencé à baisser dans la nuit de mardi à mercredi. "
        "Les pompiers ont évacué une dizaine de caves inondées.",
        "Un élan de solidarité",
        "L'association des commerçants prête ses locaux.",
        "Les habitants y déposent des bottes et des pelles.",
    ]


def test_no_interface_label_reaches_any_field() -> None:
    page = parse()
    for value in (page.title, page.standfirst, page.text):
        for label in LABELS:
            assert label not in value
        assert "date 2025" not in value
        assert "Publié le" not in value


def test_a_month_only_date_is_read_with_month_precision() -> None:
    page = parse()
    assert page.published.precision is Precision.MONTH
    assert page.published.moment == dt.datetime(2025, 1, 1, tzinfo=PARIS)


def test_a_full_date_is_noon_local_time() -> None:
    page = parse(PAGE.replace("date 2025-01", "date 2025-01-22"))
    assert page.published.precision is Precision.DAY
    assert page.published.moment == dt.datetime(2025, 1, 22, 12, tzinfo=PARIS)


def test_the_title_is_the_first_sentence_cut_at_a_clause_boundary() -> None:
    page = parse()
    # The sentence runs to 127 characters; its last clause boundary within 110 ends the title.
    assert (
        page.title == "Au lendemain de la crue, la commune de Port-Rivière, le long de la Garonne"
    )
    assert len(page.title) <= TITLE_MAX_CHARS


def test_a_short_first_sentence_is_the_title_without_its_full_stop() -> None:
    assert headline("Le pont rouvre samedi. Les travaux ont duré deux ans.") == (
        "Le pont rouvre samedi"
    )
    assert headline("Faut-il fermer la piscine ? Le conseil hésite.") == (
        "Faut-il fermer la piscine ?"
    )


def test_a_long_sentence_without_clauses_is_cut_at_a_word_with_an_ellipsis() -> None:
    sentence = "Le " + "très " * 40 + "long discours du maire a duré."
    title = headline(sentence)
    assert title.endswith("…")
    assert len(title) <= TITLE_MAX_CHARS
    assert title.removesuffix("…").split()[-1] == "très"


def test_a_heading_like_first_paragraph_is_the_title() -> None:
    text = (
        "date 2025-01-20 Lecture Zen Résumer l’article\n\n"
        "La médiathèque ouvre le dimanche\n\n"
        "Dès février, la médiathèque ouvrira chaque dimanche après-midi.\n\n"
        "Le personnel a été renforcé."
    )
    page = parse(text)
    assert page.title == "La médiathèque ouvre le dimanche"
    assert page.standfirst == "Dès février, la médiathèque ouvrira chaque dimanche après-midi."
    assert page.text == "Le personnel a été renforcé."


def test_a_file_name_saved_from_the_page_title_is_the_title() -> None:
    page = parse(name="Crue : Port-Rivière compte ses dégâts | La Gazette du Val")
    assert page.title == "Crue : Port-Rivière compte ses dégâts"
    assert page.standfirst.startswith("Au lendemain de la crue")


@pytest.mark.parametrize("name", ["crue-port-riviere", "saved page 2025 01", "IMG 0042 SCAN"])
def test_slugs_and_machine_names_are_not_titles(name: str) -> None:
    assert parse(name=name).title.startswith("Au lendemain de la crue")


def test_a_page_with_only_labels_after_the_date_is_an_article_error() -> None:
    with pytest.raises(ArticleError, match="no text"):
        parse("date 2025-01 Lecture Zen\n\nPartager\n\nLire aussi : autre chose\n")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Lecture Zen Résumer l'article\n\nUn texte sans date.",
        "date janvier 2025 Lecture Zen\n\nUn texte.",
        "date 2025-13 Lecture Zen\n\nUn texte au mois impossible.",
    ],
)
def test_a_page_without_a_readable_date_line_is_an_article_error(text: str) -> None:
    with pytest.raises(ArticleError):
        parse(text)
