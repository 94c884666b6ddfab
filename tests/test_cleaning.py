"""Noise removal shared by the sources: labels, bylines, whitespace, glued paragraphs, HTML."""

from __future__ import annotations

import pytest

from digest.cleaning import (
    clean_line,
    clean_text,
    html_to_paragraphs,
    is_label_line,
    looks_like_heading,
    remove_noise,
    split_glued,
)

LABEL_LINES = [
    "Lecture Zen",
    "Résumer l'article",
    "Résumer l’article",
    "Lecture Zen Résumer l'article",
    "Partager",
    "Partager sur Facebook",
    "Partager cet article",
    "Lire aussi : Le pont de la Barre rouvre samedi",
    "À lire aussi - La mairie vote son budget",
    "A lire aussi : la rentrée des classes",
    "Publié le 12/01/2025 à 10h30",
    "Publié le dimanche 26 janvier 2025 à 17h56",
    "AFP, publié le dimanche 27 septembre 2020 à 17h56",
    "Par Jeanne Roche, publié le 12 janvier 2025 à 10h30, mis à jour le 13 janvier 2025 à 8h05",
    "Mis à jour le 13 janvier 2025",
    "Publié le 1er février 2025 - 14:05",
    "L'article Le marché rouvre est apparu en premier sur La Gazette.",
]

PROSE_LINES = [
    "Publié le 3 mars, le rapport montre une hausse inquiétante.",
    "Le maire a publié le 3 mars un arrêté sur le stationnement.",
    "Partager les tâches ménagères reste un défi pour beaucoup de couples.",
    "Partager sur les réseaux sociaux est devenu un réflexe.",
    "Il faut lire aussi les notes de bas de page, disent les archivistes.",
    "Une lecture zen du règlement a suffi à calmer les esprits.",
]


@pytest.mark.parametrize("line", LABEL_LINES)
def test_label_and_byline_lines_are_recognised(line: str) -> None:
    assert is_label_line(line)
    assert remove_noise([line]) == []


@pytest.mark.parametrize("line", PROSE_LINES)
def test_sentences_that_resemble_labels_are_kept(line: str) -> None:
    assert not is_label_line(line)
    assert remove_noise([line]) == [line]


def test_labels_embedded_in_a_line_are_removed_and_the_text_kept() -> None:
    line = "Lecture Zen Le conseil municipal a voté le budget. Résumer l’article"
    assert remove_noise([line]) == ["Le conseil municipal a voté le budget."]
    assert clean_line(" date 2025-01 Lecture Zen Résumer l'article") == "date 2025-01"


def test_label_lines_inside_a_paragraph_are_dropped_and_lines_joined() -> None:
    paragraph = "Le pont rouvre samedi\nPartager\naprès deux ans de travaux."
    assert remove_noise([paragraph]) == ["Le pont rouvre samedi après deux ans de travaux."]


def test_whitespace_is_collapsed_but_a_lone_no_break_space_is_kept() -> None:
    assert remove_noise(["  Un   texte\t\tespacé  "]) == ["Un texte espacé"]
    assert remove_noise(["Il dit\u00a0: «\u202fnon\u202f»."]) == [
        "Il dit\u00a0: «\u202fnon\u202f»."
    ]
    assert remove_noise(["mot\u200bcoupé et\u00adtrait"]) == ["motcoupé ettrait"]


@pytest.mark.parametrize(
    ("glued", "parts"),
    [
        ("La séance est levée.Le maire remercie.", ["La séance est levée.", "Le maire remercie."]),
        ('avec "Somewhere".Le film sort', ['avec "Somewhere".', "Le film sort"]),
        ("en 2010.Les prix", ["en 2010.", "Les prix"]),
        ("Fin du texte.L'acteur arrive.", ["Fin du texte.", "L'acteur arrive."]),
        (
            "Voir https://exemple.fr/page.Html pour tout.",
            ["Voir https://exemple.fr/page.Html pour tout."],
        ),
        ("Écrire à contact@mairie.Fr demain.", ["Écrire à contact@mairie.Fr demain."]),
        ("M.Dupont et J.-C. Martin.", ["M.Dupont et J.-C. Martin."]),
        ("Il y a 2.600 passagers.", ["Il y a 2.600 passagers."]),
        ("le sigle O.N.U.Nous", ["le sigle O.N.U.Nous"]),
    ],
)
def test_glued_paragraphs_are_split_only_where_safe(glued: str, parts: list[str]) -> None:
    assert split_glued(glued) == parts


def test_clean_text_keeps_one_blank_line_between_paragraphs() -> None:
    text = "Premier paragraphe.\n\n\nPartager\n\nSecond\nparagraphe.Troisième ici.\r\n\r\nFin."
    assert clean_text(text) == "Premier paragraphe.\n\nSecond paragraphe.\n\nTroisième ici.\n\nFin."


def test_html_becomes_paragraphs_without_scripts_styles_or_captions() -> None:
    html = (
        "<div><p>Premier &amp; unique&#8230;</p><script>alert('x')</script>"
        "<style>p{}</style><figure><img src='a.jpg'><figcaption>Légende</figcaption></figure>"
        "<h2>Un intertitre</h2>Texte libre<br>après un saut<ul><li>un</li><li>deux</li></ul>"
        "<p>Lire aussi : autre chose</p><p>Fin <em>en</em> <a href='#'>lien</a>.</p></div>"
    )
    assert html_to_paragraphs(html) == [
        "Premier & unique…",
        "Un intertitre",
        "Texte libre",
        "après un saut",
        "un",
        "deux",
        "Fin en lien.",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Un torrent de critiques contre le projet", True),
        ("Des horaires élargis", True),
        ("Devinez ce que le maire a choisi ? La prudence.", False),
        ("Il a ajouté :", False),
        ("une phrase coupée sans majuscule", False),
        ("Un " + "très " * 30 + "long intertitre", False),
    ],
)
def test_short_lines_without_final_punctuation_look_like_headings(
    line: str, expected: bool
) -> None:
    assert looks_like_heading(line) is expected
