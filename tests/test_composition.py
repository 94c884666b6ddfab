"""Composing the week's stories into an issue, French dates and the editor's note."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest

from digest.composition import (
    CARDS_PER_SECTION,
    compose_issue,
    french_date,
    load_editor_note,
    make_story,
)
from digest.config import CompositionSettings, NewsletterSettings
from digest.errors import CompositionError
from digest.models import Article, EditorNote, IsoWeek, Issue, Story, Summary

NNBSP = "\u202f"
NBSP = "\u00a0"
WEEK = IsoWeek(2025, 4)
FRIDAY = dt.date(2025, 1, 24)
MONDAY = dt.datetime(2025, 1, 20, 8, 0, tzinfo=dt.UTC)


def story(
    slug: str,
    section: str = "",
    *,
    words: int = 200,
    image: bool = False,
    day: int = 0,
    title: str = "",
    summary: str = "",
) -> Story:
    article = Article(
        url=f"https://actu.exemple.fr/{slug}",
        title=title or f"Titre {slug}",
        text=" ".join(["mot"] * words),
        published=MONDAY + dt.timedelta(days=day),
        source="Exemple",
        section=section,
        image_url=f"https://actu.exemple.fr/{slug}.jpg" if image else "",
    )
    return make_story(article, Summary(summary or f"Résumé de {slug}.", "lead-v1"))


def compose(
    stories: list[Story], editor_note: EditorNote | None = None, **composition: object
) -> Issue:
    return compose_issue(
        stories,
        newsletter=NewsletterSettings(),
        composition=CompositionSettings.model_validate(composition),
        week=WEEK,
        number=12,
        issue_date=FRIDAY,
        editor_note=editor_note,
    )


def slugs(stories: tuple[Story, ...]) -> list[str]:
    return [s.article.url.rsplit("/", 1)[1] for s in stories]


def test_sections_follow_the_configured_order_matched_without_case() -> None:
    stories = [
        story("une", image=True),
        story("sport-1", "sport"),
        story("monde-1", "MONDE"),
        story("culture-1", "Culture"),
    ]
    issue = compose(stories, sections=("Monde", "Culture", "Sport", "Économie"))
    assert [section.name for section in issue.sections] == ["Monde", "Culture", "Sport"]
    assert slugs(issue.sections[0].stories) == ["monde-1"]


def test_unlisted_sections_go_to_autres_which_is_always_last() -> None:
    stories = [
        story("une", "Monde", image=True),
        story("meteo", "Météo"),
        story("sans-rubrique"),
        story("monde-2", "Monde"),
    ]
    issue = compose(stories, sections=("Autres", "Monde"))
    assert [section.name for section in issue.sections] == ["Monde", "Autres"]
    assert sorted(slugs(issue.sections[-1].stories)) == ["meteo", "sans-rubrique"]


def test_without_configured_sections_the_articles_own_are_used() -> None:
    stories = [story("une", image=True), story("a", "Sport", words=300), story("b", "Culture")]
    issue = compose(stories)
    assert [section.name for section in issue.sections] == ["Sport", "Culture"]


def test_featured_is_the_best_ranked_and_not_repeated_in_sections() -> None:
    stories = [
        story("long", "Monde", words=900),
        story("illustre", "Monde", words=300, image=True),
        story("recent", "Monde", words=300, image=True, day=3),
    ]
    issue = compose(stories, sections=("Monde",))
    assert issue.featured is not None
    assert slugs((issue.featured,)) == ["recent"]
    assert slugs(issue.sections[0].stories) == ["illustre", "long"]
    assert slugs(issue.stories) == ["recent", "illustre", "long"]


def test_a_pinned_url_is_featured() -> None:
    stories = [story("meilleur", image=True, words=900), story("choisi", "Monde", words=50)]
    issue = compose(stories, featured_url="https://actu.exemple.fr/choisi/")
    assert issue.featured is not None
    assert issue.featured.article.url == "https://actu.exemple.fr/choisi"
    assert slugs(issue.stories) == ["choisi", "meilleur"]


def test_a_pinned_url_missing_from_the_week_is_an_error_naming_it() -> None:
    with pytest.raises(CompositionError, match=r"https://actu\.exemple\.fr/absent.*2025-W04"):
        compose([story("a")], featured_url="https://actu.exemple.fr/absent")


def test_stories_past_the_cards_of_a_section_become_briefs() -> None:
    stories = [story("une", image=True)] + [
        story(f"sport-{n}", "Sport", words=500 - n) for n in range(CARDS_PER_SECTION + 2)
    ]
    stories.append(story("culture-0", "Culture"))
    issue = compose(stories, sections=("Sport", "Culture"))
    assert slugs(issue.sections[0].stories) == [f"sport-{n}" for n in range(CARDS_PER_SECTION)]
    assert slugs(issue.briefs) == [f"sport-{CARDS_PER_SECTION}", f"sport-{CARDS_PER_SECTION + 1}"]
    assert slugs(issue.sections[1].stories) == ["culture-0"]


def test_max_articles_bounds_the_whole_issue() -> None:
    stories = [story(f"s{n}", "Sport", words=900 - n) for n in range(12)]
    issue = compose(stories, max_articles=7, sections=("Sport",))
    assert len(issue.stories) == 7
    assert slugs(issue.stories) == [f"s{n}" for n in range(7)]


def test_subject_follows_the_default_template_with_french_typography() -> None:
    issue = compose([story("une", title="Venise : l'inquiétude des gondoliers")])
    assert issue.subject == f"Toujours+ n°12{NNBSP}: Venise{NNBSP}: l’inquiétude des gondoliers"


def test_subject_template_may_name_the_week() -> None:
    issue = compose([story("une", title="Le froid arrive")], subject_template="{week} – {featured}")
    assert issue.subject == "2025-W04 – Le froid arrive"


@pytest.mark.parametrize("template", ["{titre}", "{featured.title}", "{0}", "{number:zz}", "{"])
def test_a_bad_subject_template_is_a_composition_error(template: str) -> None:
    with pytest.raises(CompositionError, match="subject_template"):
        compose([story("une")], subject_template=template)


def test_titles_and_summaries_get_french_typography() -> None:
    issue = compose([story("une", title="L'hiver ?", summary="Il fait froid ! Vraiment...")])
    assert issue.featured is not None
    assert issue.featured.article.title == f"L’hiver{NNBSP}?"
    assert issue.featured.summary.text == f"Il fait froid{NNBSP}! Vraiment…"


def test_preheader_is_the_start_of_the_featured_summary_cut_at_a_word() -> None:
    summary = (
        "Dimanche matin à Venise, l'équipage du MSC Opéra a perdu le contrôle du paquebot, "
        "à son arrivée dans le port de la cité des Doges."
    )
    issue = compose([story("une", summary=summary)])
    assert len(issue.preheader) <= 90
    assert issue.preheader == (
        "Dimanche matin à Venise, l’équipage du MSC Opéra a perdu le contrôle du paquebot, à son…"
    )


def test_preheader_stays_within_90_characters_after_typography() -> None:
    summary = "Quoi ? Où ? Qui ? Comment ? " * 6
    preheader = compose([story("une", summary=summary)]).preheader
    assert len(preheader) <= 90
    assert preheader.endswith("…")
    assert f"Quoi{NNBSP}?" in preheader


def test_a_short_featured_summary_is_the_whole_preheader() -> None:
    issue = compose([story("une", summary="Le froid arrive : sortez les écharpes !")])
    assert issue.preheader == f"Le froid arrive{NNBSP}: sortez les écharpes{NNBSP}!"


def test_no_story_is_a_composition_error_naming_the_week() -> None:
    with pytest.raises(CompositionError, match=r"no article in week 2025-W04 .*check the sources"):
        compose([])


def test_issue_carries_its_identity_and_the_editor_note() -> None:
    note = EditorNote(html="<p>Bonjour</p>", text="Bonjour", signature="La rédaction")
    issue = compose([story("une")], editor_note=note)
    assert (issue.newsletter, issue.week, issue.number, issue.date) == (
        "Toujours+",
        WEEK,
        12,
        FRIDAY,
    )
    assert issue.editor_note == note


@pytest.mark.parametrize(
    ("day", "label"),
    [
        (dt.date(2025, 1, 24), "vendredi 24 janvier 2025"),
        (dt.date(2025, 3, 1), "samedi 1er mars 2025"),
        (dt.date(2025, 8, 15), "vendredi 15 août 2025"),
    ],
)
def test_french_date(day: dt.date, label: str) -> None:
    assert french_date(day) == label


def test_make_story_computes_reading_minutes() -> None:
    assert story("court", words=40).reading_minutes == 1
    assert story("long", words=1150).reading_minutes == 5


NOTE = """# Édito de la semaine

Chers lecteurs, cette semaine **Venise** fait la une... Qu'en pensez-vous?

<script>alert("piège")</script>

- [Notre dossier](https://actu.exemple.fr/dossier)
- [Un faux lien](javascript:alert(1)) et [un autre](javascript&#58;alert(2))
- Écrire à <redaction@exemple.fr>
"""


def test_editor_note_is_rendered_escaped_and_typeset(tmp_path: Path) -> None:
    (tmp_path / "2025-W04.md").write_text(NOTE, encoding="utf-8")
    note = load_editor_note(str(tmp_path / "{week}.md"), WEEK, "Jeanne, rédactrice en chef")
    assert note is not None
    assert "<script" not in note.html
    assert "&lt;script&gt;" in note.html
    assert "<strong>Venise</strong>" in note.html
    assert '<a href="https://actu.exemple.fr/dossier">Notre dossier</a>' in note.html
    assert "javascript" not in note.html
    assert "<a>Un faux lien</a> et <a>un autre</a>" in note.html
    assert '<a href="&#109;&#97;&#105;&#108;' in note.html  # mailto:, obfuscated by Markdown
    assert f"fait la une… Qu’en pensez-vous{NNBSP}?" in note.html
    assert note.signature == "Jeanne, rédactrice en chef"
    assert "<h3>Édito de la semaine</h3>" in note.html, "under the letter's h1 and h2"


def test_editor_note_text_is_the_markdown_without_syntax(tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text(NOTE, encoding="utf-8")
    note = load_editor_note(str(tmp_path / "note.md"), WEEK, "")
    assert note is not None
    assert note.text.startswith("Édito de la semaine\n\nChers lecteurs, cette semaine Venise")
    assert "**" not in note.text
    assert "#" not in note.text
    assert "- Notre dossier (https://actu.exemple.fr/dossier)" in note.text
    assert "- Un faux lien et un autre\n" in note.text
    assert note.text.endswith("- Écrire à redaction@exemple.fr")


def test_a_missing_editor_note_is_none(tmp_path: Path) -> None:
    assert load_editor_note(str(tmp_path / "{week}.md"), WEEK, "") is None
    assert load_editor_note("", WEEK, "") is None


def test_an_editor_note_not_in_utf8_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "2025-W04.md"
    path.write_bytes("Édito de la semaine".encode("latin-1"))
    with pytest.raises(CompositionError, match=re.escape(str(path))):
        load_editor_note(str(tmp_path / "{week}.md"), WEEK, "")


def test_an_unreadable_editor_note_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "2025-W04.md"
    path.mkdir()
    with pytest.raises(CompositionError, match=re.escape(str(path))):
        load_editor_note(str(tmp_path / "{week}.md"), WEEK, "")


def test_without_a_note_a_generated_introduction_names_the_main_subjects() -> None:
    stories = [
        story("une", "Monde", image=True, title="Venise sous les eaux"),
        story("vote", "Politique", title="Le budget adopté"),
        story("ecole", "France", title="La rentrée des classes"),
    ]
    issue = compose(stories, sections=["Politique", "France"])
    assert issue.introduction == (
        f"Cette semaine, à la une{NNBSP}: Venise sous les eaux. "
        f"Au sommaire aussi{NNBSP}: Le budget adopté et La rentrée des classes."
    )


def test_the_introduction_counts_the_briefs_and_can_be_turned_off() -> None:
    stories = [story(f"p{i}", "Politique", words=300 - i) for i in range(CARDS_PER_SECTION + 4)]
    assert compose(stories).introduction.endswith(", et 3 autres articles en bref.")
    assert compose(stories, introduction="none").introduction == ""


def test_an_editor_note_replaces_the_introduction() -> None:
    note = EditorNote(html="<p>Bonjour</p>", text="Bonjour")
    assert compose([story("une")], editor_note=note).introduction == ""


def test_the_signature_has_name_role_and_photo(tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text("Bonjour !\n", encoding="utf-8")
    note = load_editor_note(
        str(tmp_path / "note.md"),
        WEEK,
        " Jeanne Martin ",
        role="rédactrice en chef d'un jour",
        photo_url="https://exemple.fr/jeanne.jpg",
    )
    assert note is not None
    assert (note.signature, note.role, note.photo_url) == (
        "Jeanne Martin",
        "rédactrice en chef d’un jour",
        "https://exemple.fr/jeanne.jpg",
    )
    assert note.text == f"Bonjour{NNBSP}!"


def test_a_hard_wrapped_note_is_reflowed_but_lists_stay_lines(tmp_path: Path) -> None:
    source = "Une phrase coupée\nen deux lignes.\n\n- un\n- deux\nsuite\n"
    (tmp_path / "note.md").write_text(source, encoding="utf-8")
    note = load_editor_note(str(tmp_path / "note.md"), WEEK, "")
    assert note is not None
    assert note.text == "Une phrase coupée en deux lignes.\n\n- un\n- deux suite"


def test_authors_and_sections_get_french_typography() -> None:
    base = story("une", "L'actu")
    article = replace(base.article, author="Jean D'Ormesson")
    issue = compose([make_story(article, base.summary)])
    assert issue.featured is not None
    assert issue.featured.article.author == "Jean D’Ormesson"
    assert issue.featured.article.section == "L’actu"


def test_the_introduction_keeps_a_title_s_own_question_mark() -> None:
    stories = [story("une", "Monde", image=True, title="Venise va-t-elle couler ?")]
    assert (
        compose(stories).introduction
        == f"Cette semaine, à la une{NNBSP}: Venise va-t-elle couler{NNBSP}?"
    )
