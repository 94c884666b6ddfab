"""Rendering: Jinja2 -> MJML -> HTML once per issue, text part, personal slots."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.config import NewsletterSettings, TemplateSettings
from digest.errors import RenderError
from digest.french import typography
from digest.models import (
    Article,
    EditorNote,
    IsoWeek,
    Issue,
    PersonalSlots,
    RenderedIssue,
    Section,
    Story,
    Summary,
)
from digest.rendering import (
    SLOT_GREETING,
    SLOT_NAME,
    SLOT_PREFERENCES_LINK,
    SLOT_UNSUBSCRIBE_URL,
    Renderer,
    bundled_templates_dir,
    fill_slots,
    public_slots,
    wrap_text,
)

PARIS = dt.timezone(dt.timedelta(hours=1))
LONG_URL = "https://www.exemple.fr/politique/2025/01/20/" + "reforme-des-retraites-" * 8 + "x"
TRICKY_TITLE = "Retraites : <b>le vote</b> & la rue"
DATE_LABEL = "vendredi 24 janvier 2025"


def make_story(index: int, *, section: str = "Politique", title: str = "", url: str = "") -> Story:
    article = Article(
        url=url or f"https://www.exemple.fr/{section.lower()}/article-{index}",
        title=title or f"Élection n°{index} : à Besançon, l'été s'achève",
        text="Le conseil municipal a voté. " * 40,
        published=dt.datetime(2025, 1, 1 + index % 20, 9, 30, tzinfo=PARIS),
        source="Le Quotidien",
        section=section,
        author="Zoé Lefèvre",
        image_url=f"https://img.exemple.fr/{index}.jpg",
    )
    summary = Summary(
        "Après une longue séance, les élus ont adopté le budget à une courte majorité ; "
        "l'opposition dénonce un passage en force et promet un recours.",
        "lead",
    )
    return Story(article, summary, reading_minutes=3 + index % 4)


def make_issue(count: int = 6, *, featured: Story | None = None) -> Issue:
    stories = [make_story(i, section=("Politique", "Économie")[i % 2]) for i in range(1, count)]
    stories[0] = make_story(1, section="Politique", title=TRICKY_TITLE, url=LONG_URL)
    head = featured or make_story(0, section="Culture", title="Le Louvre « réinvente » ses salles")
    body, briefs = stories[: max(1, len(stories) - 2)], tuple(stories[max(1, len(stories) - 2) :])
    sections = tuple(
        Section(name, tuple(s for s in body if s.article.section == name))
        for name in ("Politique", "Économie")
    )
    return Issue(
        newsletter="Toujours+",
        week=IsoWeek(2025, 4),
        number=12,
        date=dt.date(2025, 1, 24),
        subject="Toujours+ n°12 : le Louvre se réinvente",
        preheader="Le Louvre, les retraites et la semaine en bref.",
        featured=head,
        sections=sections,
        briefs=briefs,
        editor_note=EditorNote(
            "<p>Chères lectrices, chers lecteurs, <em>bonne lecture</em>.</p>",
            "Chères lectrices, chers lecteurs, bonne lecture.",
            "Marie Dubois",
        ),
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TemplateSettings(), NewsletterSettings())


@pytest.fixture(scope="module")
def rendered(renderer: Renderer) -> RenderedIssue:
    return renderer.render(make_issue(), date_label=DATE_LABEL)


class _Links(HTMLParser):
    """Every href and every <img> attribute set of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values)
        href = values.get("href")
        if href is not None:
            self.hrefs.append(href)


def parse_links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def is_lone_url(line: str) -> bool:
    return re.fullmatch(r"\s*https://\S+", line) is not None


def test_html_is_a_full_french_document(rendered: RenderedIssue) -> None:
    assert rendered.html.lower().startswith("<!doctype html>")
    assert '<html lang="fr"' in rendered.html
    assert rendered.html.rstrip().endswith("</html>")
    assert "<title>Toujours+ n°12 : le Louvre se réinvente</title>" in rendered.html


def test_titles_are_escaped_not_interpreted(rendered: RenderedIssue) -> None:
    assert "Retraites\u202f: &lt;b&gt;le vote&lt;/b&gt; &amp; la rue" in rendered.html
    assert "<b>le vote</b>" not in rendered.html
    assert "Le Louvre « réinvente » ses salles" in rendered.html


def test_every_link_is_https_and_every_image_has_alt(rendered: RenderedIssue) -> None:
    links = parse_links(rendered.web_html)
    assert len(links.hrefs) > 10
    assert all(href.startswith("https://") for href in links.hrefs), links.hrefs
    assert links.images, "the featured story has an image"
    for image in links.images:
        assert image.get("alt"), image
    assert links.images[0]["alt"] == "Le Louvre « réinvente » ses salles"


def test_featured_story_has_its_parts(rendered: RenderedIssue) -> None:
    html = rendered.html
    assert "À LA UNE" in html
    assert "Lire l’article" in html
    assert "min de lecture" in html
    assert 'href="https://www.exemple.fr/culture/article-0"' in html
    assert "Culture" in html


def test_sections_cards_briefs_and_editor_note_appear(rendered: RenderedIssue) -> None:
    html = rendered.html
    assert ">Politique</h2>" in html
    assert ">Économie</h2>" in html
    assert "En bref" in html
    assert "<em>bonne lecture</em>" in html, "the note's HTML is already safe"
    assert ">Marie Dubois</p>" in html
    assert "Zoé Lefèvre · 2 janvier · 4 min de lecture" in html


def test_header_and_footer_say_who_and_why(rendered: RenderedIssue) -> None:
    html = rendered.html
    assert "n°12 · vendredi 24 janvier 2025" in html
    assert 'href="https://lettre.exemple.fr/archives/2025-W04"' in html
    assert "Voir la version en ligne" in html
    assert "Vous recevez cette lettre car vous êtes inscrit·e à Toujours+, la lettre" in html
    assert "1 rue de l’Exemple, 75001 Paris, France" in html, "typographic apostrophe"
    assert "La Rédaction" in html
    assert html.count(SLOT_PREFERENCES_LINK) == 1


def test_preheader_is_the_hidden_preview(rendered: RenderedIssue) -> None:
    assert re.search(r'<div style="display:none;[^"]*">Le Louvre, les retraites', rendered.html)


def test_accent_colour_and_web_safe_fonts_only() -> None:
    renderer = Renderer(TemplateSettings(), NewsletterSettings(accent_color="#0b5394"))
    html = renderer.render(make_issue(), date_label=DATE_LABEL).html
    assert "#0b5394" in html
    assert "Georgia" in html
    assert "Helvetica" in html
    assert "fonts.googleapis.com" not in html
    assert "@import" not in html


def test_long_words_may_break_on_narrow_screens(rendered: RenderedIssue) -> None:
    # word-break, not overflow-wrap: Gmail, Outlook and Apple Mail ignore overflow-wrap.
    assert "word-break: break-word" in rendered.html
    assert "overflow-wrap" not in rendered.html


def test_french_no_break_spaces_in_attributes_come_out_as_characters(renderer: Renderer) -> None:
    title = "Milan\u00a0: Viva l’Italia\u202f!"
    featured = make_story(0, section="Culture", title=title)
    issue = make_issue(featured=featured)
    issue = Issue(
        **{
            **{f: getattr(issue, f) for f in issue.__slots__},
            "subject": "Toujours+ n°12\u00a0: " + title,
        }
    )
    html = renderer.render(issue, date_label=DATE_LABEL).html
    assert "\\u{" not in html
    assert 'alt="Milan : Viva l’Italia !"' in html


def test_thirty_stories_stay_under_90_kib(renderer: Renderer) -> None:
    issue = make_issue(31)
    assert len(issue.stories) == 31
    html = renderer.render(issue, date_label=DATE_LABEL).html
    assert len(html.encode("utf-8")) < 90 * 1024


def test_text_part_lines_fit_78_columns_except_lone_urls(rendered: RenderedIssue) -> None:
    long_lines = [line for line in rendered.text.splitlines() if len(line) > 78]
    assert long_lines, "the long URL of the fixture must be present"
    assert all(is_lone_url(line) for line in long_lines), long_lines


def test_text_part_lists_every_title_and_url(rendered: RenderedIssue) -> None:
    issue = make_issue()
    lines = [line.strip() for line in rendered.text.splitlines()]
    for story in issue.stories:
        assert story.article.url in lines, story.article.url
    assert typography(TRICKY_TITLE) in rendered.text, "the text part is not HTML-escaped"
    assert "Après une longue séance" in rendered.text
    assert SLOT_UNSUBSCRIBE_URL in lines
    assert "Vous recevez cette lettre car vous êtes inscrit·e à Toujours+, la" in rendered.text


def test_text_part_is_not_converted_from_html(rendered: RenderedIssue) -> None:
    assert "<p>" not in rendered.text
    assert "&amp;" not in rendered.text
    assert "L’ÉDITO" in rendered.text
    assert "À LA UNE" in rendered.text


def test_wrap_text_keeps_urls_whole_and_hangs_bullets() -> None:
    words = "Le gouvernement a présenté mercredi un projet de loi très attendu " * 3
    text = f"* {words}\n  {LONG_URL}\n{words}"
    wrapped = wrap_text(text).splitlines()
    assert all(len(line) <= 78 or is_lone_url(line) for line in wrapped)
    assert f"  {LONG_URL}" in wrapped
    assert wrapped[0].startswith("* Le gouvernement")
    assert wrapped[1].startswith("  ") and not wrapped[1].startswith("   ")


def test_html_has_one_unsubscribe_slot_and_the_greeting(rendered: RenderedIssue) -> None:
    assert rendered.html.count(SLOT_UNSUBSCRIBE_URL) == 1
    assert rendered.html.count(SLOT_GREETING) == 1
    assert rendered.text.count(SLOT_UNSUBSCRIBE_URL) == 1


def test_markers_in_content_cannot_hijack_a_slot(renderer: Renderer) -> None:
    nested = "%%DIGEST_%%DIGEST_UNSUBSCRIBE_URL%%UNSUBSCRIBE_URL%%"
    evil = make_story(0, title=f"Cliquez {SLOT_UNSUBSCRIBE_URL} ici {nested} {SLOT_NAME}")
    out = renderer.render(make_issue(featured=evil), date_label=DATE_LABEL + SLOT_NAME)
    assert out.html.count(SLOT_UNSUBSCRIBE_URL) == 1
    assert out.text.count(SLOT_UNSUBSCRIBE_URL) == 1
    assert SLOT_NAME not in out.html
    assert "Cliquez  ici" in out.text


def test_fill_slots_escapes_values_in_html_only(rendered: RenderedIssue) -> None:
    slots = PersonalSlots("https://x.fr/d/t?a=1&b=2", "mailto:d@x.fr", name="Zoé <Z> & Cie")
    html = fill_slots(rendered.html, slots, html=True)
    text = fill_slots(rendered.text, slots, html=False)
    assert "Bonjour Zoé &lt;Z&gt; &amp; Cie," in html
    assert 'href="https://x.fr/d/t?a=1&amp;b=2"' in html
    assert "Bonjour Zoé <Z> & Cie," in text
    assert "https://x.fr/d/t?a=1&b=2" in text.splitlines()
    assert "%%DIGEST_" not in html + text


def test_a_value_holding_a_marker_is_not_expanded_again() -> None:
    slots = PersonalSlots("https://x.fr/d", "mailto:d@x.fr", name=SLOT_UNSUBSCRIBE_URL)
    filled = fill_slots(f"{SLOT_NAME}|{SLOT_UNSUBSCRIBE_URL}", slots, html=False)
    assert filled == "|https://x.fr/d"


def test_web_copy_has_generic_unsubscribe_and_no_name(rendered: RenderedIssue) -> None:
    assert "%%DIGEST_" not in rendered.web_html
    assert 'href="https://lettre.exemple.fr/desinscription"' in rendered.web_html
    assert "Bonjour," in rendered.web_html
    assert public_slots(NewsletterSettings()).name == ""


def test_web_copy_is_a_sanitised_standalone_page(renderer: Renderer) -> None:
    note = EditorNote(
        '<p onclick="x()">Lu <img src="https://x.fr/a.png" alt="a" onerror="y()"></p>', "Lu"
    )
    issue = dataclasses.replace(make_issue(), editor_note=note)
    web = renderer.render(issue, date_label=DATE_LABEL).web_html
    assert web.startswith('<!doctype html>\n<html lang="fr">')
    assert "<title>Toujours+ n°12 : le Louvre se réinvente</title>" in web
    assert "@media only screen and (max-width: 479px)" in web, "the responsive styles stay"
    for unsafe in ("onclick", "onerror", "<script", "<!--", "[if mso"):
        assert unsafe not in web, unsafe
    assert '<img src="https://x.fr/a.png" alt="a"' in web
    assert "Le Louvre «\u202fréinvente\u202f» ses salles" in web


def test_unsafe_article_links_are_not_linked(renderer: Renderer) -> None:
    evil = make_story(0, url="javascript:alert(1)")
    html = renderer.render(make_issue(featured=evil), date_label=DATE_LABEL).html
    assert "javascript:" not in html


def test_rendering_is_deterministic(renderer: Renderer, rendered: RenderedIssue) -> None:
    assert renderer.render(make_issue(), date_label=DATE_LABEL) == rendered


def test_bundled_templates_are_found() -> None:
    folder = bundled_templates_dir()
    assert (folder / "issue.mjml.j2").is_file()
    assert (folder / "issue.txt.j2").is_file()
    assert (folder / "_footer.mjml.j2").is_file()


def test_a_user_footer_shadows_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "_footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>Pied de page maison de {{ newsletter.name }} "
        '<a href="{{ slots.unsubscribe_url }}">partir</a></mj-text></mj-column></mj-section>\n',
        encoding="utf-8",
    )
    renderer = Renderer(TemplateSettings(folder=tmp_path), NewsletterSettings())
    out = renderer.render(make_issue(), date_label=DATE_LABEL)
    assert "Pied de page maison de Toujours+" in out.html
    assert "Vous recevez cette lettre" not in out.html
    assert "Vous recevez cette lettre" in out.text, "the text part is still the bundled one"
    assert "À LA UNE" in out.html


def test_a_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "_footer.mjml.j2").write_text(
        "<mj-section>\n<mj-column>\n{% if %}\n</mj-column>\n</mj-section>\n", encoding="utf-8"
    )
    renderer = Renderer(TemplateSettings(folder=tmp_path), NewsletterSettings())
    with pytest.raises(RenderError, match=r"_footer\.mjml\.j2, line 3"):
        renderer.render(make_issue(), date_label=DATE_LABEL)


def test_an_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "issue.txt.j2").write_text(
        "{{ newsletter.name }}\n\n{{ issue.no_such_field }}\n", encoding="utf-8"
    )
    renderer = Renderer(TemplateSettings(folder=tmp_path), NewsletterSettings())
    with pytest.raises(RenderError, match=r"issue\.txt\.j2, line 3.*no_such_field"):
        renderer.render(make_issue(), date_label=DATE_LABEL)


def test_invalid_mjml_is_a_render_error(tmp_path: Path) -> None:
    (tmp_path / "issue.mjml.j2").write_text("<mjml><mj-body><mj-section>", encoding="utf-8")
    renderer = Renderer(TemplateSettings(folder=tmp_path), NewsletterSettings())
    with pytest.raises(RenderError, match="MJML"):
        renderer.render(make_issue(), date_label=DATE_LABEL)


class _Headings(HTMLParser):
    """The levels of the headings of a document, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.levels.append(int(tag[1]))


def test_headings_go_down_one_level_at_a_time(rendered: RenderedIssue) -> None:
    parser = _Headings()
    parser.feed(rendered.html)
    levels = parser.levels
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
    assert {2, 3} <= set(levels)


def test_colours_hold_in_dark_mode(rendered: RenderedIssue) -> None:
    assert '<meta name="color-scheme" content="light dark">' in rendered.html
    assert "@media (prefers-color-scheme: dark)" in rendered.html
    assert "digest-paper" in rendered.html and "digest-page" in rendered.html


def test_footer_has_preferences_social_links_and_the_text_part_too() -> None:
    newsletter = NewsletterSettings(
        social_links=({"name": "Mastodon", "url": "https://piaille.fr/@redac"},),  # type: ignore[arg-type]
        logo_url="https://img.exemple.fr/logo.png",
    )
    out = Renderer(TemplateSettings(), newsletter).render(make_issue(), date_label=DATE_LABEL)
    assert '<a href="https://piaille.fr/@redac"' in out.html
    assert "Mastodon\u202f:\nhttps://piaille.fr/@redac" in out.text
    assert SLOT_PREFERENCES_LINK in out.text
    logo = parse_links(out.html).images[0]
    assert (logo["src"], logo["alt"]) == ("https://img.exemple.fr/logo.png", "Toujours+")


def test_the_preferences_link_is_shown_only_when_the_copy_has_one(
    rendered: RenderedIssue,
) -> None:
    own = PersonalSlots("https://x.fr/d", "mailto:d@x.fr", preferences_url="https://x.fr/p/t?a&b")
    html = fill_slots(rendered.html, own, html=True)
    assert '<a href="https://x.fr/p/t?a&amp;b" style="color:inherit;' in html
    assert "Gérer mes préférences\u202f:\nhttps://x.fr/p/t?a&b\n" in fill_slots(
        rendered.text, own, html=False
    )
    public = fill_slots(rendered.html, public_slots(NewsletterSettings()), html=True)
    assert "préférences" not in public
    assert "préférences" not in rendered.web_html


def test_signature_with_role_and_photo_and_an_introduction(renderer: Renderer) -> None:
    note = EditorNote(
        "<p>Bonjour</p>", "Bonjour", "Marie Dubois", "rédactrice en chef", "https://x.fr/m.jpg"
    )
    issue = dataclasses.replace(make_issue(), editor_note=note)
    out = renderer.render(issue, date_label=DATE_LABEL)
    assert ">rédactrice en chef</p>" in out.html
    assert '<img src="https://x.fr/m.jpg" alt="Marie Dubois"' in out.html
    assert "— Marie Dubois, rédactrice en chef" in out.text
    intro = dataclasses.replace(make_issue(), editor_note=None, introduction="Cette semaine.")
    out = renderer.render(intro, date_label=DATE_LABEL)
    assert "Cette semaine." in out.html and "Cette semaine." in out.text
    assert "L’ÉDITO" not in out.html


def test_template_literals_and_settings_get_french_typography(rendered: RenderedIssue) -> None:
    assert "L’ÉDITO" in rendered.html
    assert "Voir la version en ligne\u202f:" in rendered.text
    assert "1 rue de l’Exemple" in rendered.text
    assert "'" not in rendered.text.replace(LONG_URL, "")


def test_no_line_of_the_text_part_starts_with_punctuation() -> None:
    words = "Le gouvernement annonce une réforme importante des retraites pour"
    text = wrap_text(f"{words} demain ! Et « ensuite » ? Oui : non ; fin.")
    assert len(text.splitlines()) > 1
    for line in text.splitlines():
        assert not re.match(r"[;:!?»]", line), line


def test_past_the_budget_the_last_cards_become_briefs(renderer: Renderer) -> None:
    issue = make_issue(31)
    full = renderer.render(issue, date_label=DATE_LABEL)
    budget = len(full.html.encode()) - 6000
    result = renderer.render_within(issue, date_label=DATE_LABEL, budget_bytes=budget)
    assert result.demoted >= 2
    assert len(result.rendered.html.encode()) <= budget
    assert len(result.issue.briefs) == len(issue.briefs) + result.demoted
    assert {s.article.url for s in result.issue.stories} == {s.article.url for s in issue.stories}
    assert all(section.stories for section in result.issue.sections)


def test_within_the_budget_nothing_is_demoted(renderer: Renderer) -> None:
    result = renderer.render_within(make_issue(), date_label=DATE_LABEL, budget_bytes=90 * 1024)
    assert result.demoted == 0
    assert result.issue == make_issue()


def test_a_user_card_shadows_the_bundled_one_inside_the_sections(tmp_path: Path) -> None:
    (tmp_path / "_card.mjml.j2").write_text(
        '<mj-text>Carte maison : <a href="{{ story.article.url | safe_url }}">'
        "{{ story.article.title }}</a></mj-text>\n",
        encoding="utf-8",
    )
    renderer = Renderer(TemplateSettings(folder=tmp_path), NewsletterSettings())
    out = renderer.render(make_issue(), date_label=DATE_LABEL)
    cards = sum(len(section.stories) for section in make_issue().sections)
    assert out.html.count("Carte maison\u202f:") == cards, "typography applies to it too"
    assert "border-top:1px solid" not in out.html


def test_a_key_points_summary_is_a_list_in_the_html_and_bullets_in_the_text(
    renderer: Renderer,
) -> None:
    story = make_story(0, section="Culture", title="Le Louvre rouvre ses salles")
    points = Summary(
        "• Le musée rouvre lundi.\n• Trois salles sont neuves.\n• L’entrée reste gratuite.",
        "learned-v3",
    )
    featured = Story(story.article, points, story.reading_minutes)
    rendered = renderer.render(make_issue(featured=featured), date_label=DATE_LABEL)
    assert "<li>Le musée rouvre lundi.</li>" in rendered.html
    assert "<li>L’entrée reste gratuite.</li>" in rendered.html
    assert "• Trois salles sont neuves." in rendered.text
