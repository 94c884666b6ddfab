"""French sentence splitting, typography, word counts and reading time."""

from __future__ import annotations

import pytest

from digest.french import reading_minutes, split_sentences, typography, word_count

NNBSP = "\u202f"
NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Il a dit : « Je pars. » Elle est restée.",
            ["Il a dit : « Je pars. »", "Elle est restée."],
        ),
        (
            "« Tu viens ? » demanda-t-il. Non !",
            ["« Tu viens ? » demanda-t-il.", "Non !"],
        ),
        (
            "M. Dupont est arrivé. Mme Martin aussi. MM. Durand et Petit sont partis.",
            ["M. Dupont est arrivé.", "Mme Martin aussi.", "MM. Durand et Petit sont partis."],
        ),
        (
            "Le Dr. Martin soigne. Il vit à St-Denis. Elle vit à St. Louis.",
            ["Le Dr. Martin soigne.", "Il vit à St-Denis.", "Elle vit à St. Louis."],
        ),
        (
            "Des pommes, des poires, etc. et des noix. Des fruits, etc. Tout coûte 2,5 euros.",
            [
                "Des pommes, des poires, etc. et des noix.",
                "Des fruits, etc.",
                "Tout coûte 2,5 euros.",
            ],
        ),
        (
            "César conquiert la Gaule en 52 av. J.-C. Il rentre ensuite à Rome.",
            ["César conquiert la Gaule en 52 av. J.-C.", "Il rentre ensuite à Rome."],
        ),
        (
            "J. Dupont a parlé. J.-C. Decaux aussi.",
            ["J. Dupont a parlé.", "J.-C. Decaux aussi."],
        ),
        (
            "Le navire peut contenir 2.600 passagers. Il a heurté le quai.",
            ["Le navire peut contenir 2.600 passagers.", "Il a heurté le quai."],
        ),
        (
            "Attendez… Il arrive. Un lundi... mais pas vraiment. Puis... Rien.",
            ["Attendez…", "Il arrive.", "Un lundi... mais pas vraiment.", "Puis...", "Rien."],
        ),
        (
            "Vraiment ? Oui ! Pourquoi pas ?",
            ["Vraiment ?", "Oui !", "Pourquoi pas ?"],
        ),
        (
            "de visiter Venise.Selon le quotidien, le câble a rompu.",
            ["de visiter Venise.", "Selon le quotidien, le câble a rompu."],
        ),
        (
            "le larynx. »Lien établi. Voir https://www.Exemple.fr/A.Page et www.Site.Fr/X.Y ici.",
            [
                "le larynx. »",
                "Lien établi.",
                "Voir https://www.Exemple.fr/A.Page et www.Site.Fr/X.Y ici.",
            ],
        ),
        (
            'Il a dit "non." Puis il est parti. On lit. "Bonjour" fut le mot.',
            ['Il a dit "non."', "Puis il est parti.", "On lit.", '"Bonjour" fut le mot.'],
        ),
        (
            "Il a écrit (…) Tout est dit.",
            ["Il a écrit (…) Tout est dit."],
        ),
        (
            "Un intertitre sans point\n\nLe paragraphe\nsuit ici.",
            ["Un intertitre sans point", "Le paragraphe suit ici."],
        ),
    ],
)
def test_split_sentences_handles_french_writing(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_of_blank_text_is_empty() -> None:
    assert split_sentences("  \n\n \t") == []


def test_split_sentences_keeps_no_break_spaces_inside_a_sentence() -> None:
    assert split_sentences(f"Vraiment{NNBSP}? Oui.") == [f"Vraiment{NNBSP}?", "Oui."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Vraiment ? Oui !", f"Vraiment{NNBSP}? Oui{NNBSP}!"),
        ("Quoi?! Non; jamais", f"Quoi{NNBSP}?! Non{NNBSP}; jamais"),
        ("Note : voici. Titre: sous-titre", f"Note{NNBSP}: voici. Titre{NNBSP}: sous-titre"),
        ('Le film "Nomadland" a gagné.', f"Le film «{NNBSP}Nomadland{NNBSP}» a gagné."),
        ('"Oui", dit-elle (en "off").', f"«{NNBSP}Oui{NNBSP}», dit-elle (en «{NNBSP}off{NNBSP}»)."),
        (
            "Il a dit «bonjour» puis « au revoir ».",
            f"Il a dit «{NNBSP}bonjour{NNBSP}» puis «{NNBSP}au revoir{NNBSP}».",
        ),
        ("L'article d'aujourd'hui", "L’article d’aujourd’hui"),
        ("Et puis...", "Et puis…"),
        ("Écrire à jean@exemple.fr ; merci", f"Écrire à jean@exemple.fr{NNBSP}; merci"),
        ("<p>Texte &amp; co !</p>", f"<p>Texte &amp; co{NNBSP}!</p>"),
    ],
)
def test_typography_sets_french_spaces_and_signs(text: str, expected: str) -> None:
    assert typography(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rendez-vous à 10:30, score 3:1.", "Rendez-vous à 10:30, score 3:1."),
        (
            "Voir https://exemple.fr/recherche?q=paris&page=2 ou http://exemple.fr:8080/a...b ?",
            f"Voir https://exemple.fr/recherche?q=paris&page=2 ou http://exemple.fr:8080/a...b{NNBSP}?",
        ),
        (
            "Lire www.exemple.fr/page?id=3 puis mailto:redaction@exemple.fr?subject=Avis",
            "Lire www.exemple.fr/page?id=3 puis mailto:redaction@exemple.fr?subject=Avis",
        ),
        (
            "index.php?id=3 et l'URL https://exemple.fr/l'article",
            "index.php?id=3 et l’URL https://exemple.fr/l'article",
        ),
    ],
)
def test_typography_leaves_addresses_times_and_ratios_alone(text: str, expected: str) -> None:
    assert typography(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "« Qui ? » demanda-t-il ; elle répondit : « Moi ! »... L'aube...",
        "Quoi?! Non:oui https://x.fr/?a=1 «cité» 10:30",
        f"Déjà{NNBSP}? Oui{NBSP}: «{NNBSP}fait{NNBSP}»",
    ],
)
def test_typography_is_idempotent(text: str) -> None:
    once = typography(text)
    assert typography(once) == once


@pytest.mark.parametrize(
    "text",
    [
        '<a href="https://exemple.fr/a?b=1" title="Le titre : "x"">lien</a>',
        "<code>if x: print(\"a\" ; 'b')</code>",
        '<pre>a : b\n"c"</pre>',
        '`x = "y" ; z`',
        'https://exemple.fr/recherche?q="paris"&l=fr',
        'Un écran de 27" et 5"; rien',
    ],
)
def test_typography_leaves_quotes_in_code_urls_and_attributes(text: str) -> None:
    assert '"' in typography(text)
    assert "«" not in typography(text)


def test_straight_quotes_around_a_link_become_french_quotes() -> None:
    html = '<p>Le "<a href="https://exemple.fr/">bilan</a>" : lu.</p>'
    assert typography(html) == (
        f'<p>Le «{NNBSP}<a href="https://exemple.fr/">bilan</a>{NNBSP}»{NNBSP}: lu.</p>'
    )


def test_typography_replaces_existing_spaces_rather_than_adding() -> None:
    assert typography(f"Oui {NBSP}!") == f"Oui{NNBSP}!"
    assert typography("« \u00a0 mot  »") == f"«{NNBSP}mot{NNBSP}»"


def test_word_count_ignores_lone_punctuation() -> None:
    assert word_count(f"Vraiment{NNBSP}? Oui — c’est l'été, 2,5 %.") == 5


@pytest.mark.parametrize(
    ("words", "minutes"),
    [(0, 1), (50, 1), (344, 1), (345, 2), (460, 2), (2300, 10)],
)
def test_reading_minutes_at_about_230_words_a_minute(words: int, minutes: int) -> None:
    assert reading_minutes(words) == minutes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'a annoncé le ministère."Les difficultés sont là", dit-il.',
            ["a annoncé le ministère.", '"Les difficultés sont là", dit-il.'],
        ),
        ('Il a dit "non."La suite arrive.', ['Il a dit "non."', "La suite arrive."]),
    ],
)
def test_a_straight_quote_glued_to_the_next_paragraph_opens_it(
    text: str, expected: list[str]
) -> None:
    assert split_sentences(text) == expected
