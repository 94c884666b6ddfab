"""The learned summarizer (the default), its summary cache in the ledger, and the command."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli, main
from digest.config import Settings, SummarizerSettings
from digest.errors import SummaryError
from digest.french import word_count
from digest.ledger import Ledger
from digest.models import GatherResult
from digest.pipeline import summarize_articles
from digest.summaries import LearnedSummarizer, make_summarizer, summary_key
from digest.summaries.features import FEATURES, ArticleView, Candidate
from digest.summaries.learned import BULLET, load_scorer
from digest.summaries.shaping import drop_connector, shorten
from tests.test_summaries import (
    ENDS_AS_SENTENCE,
    ORANGESUM,
    VENICE_STANDFIRST,
    make_article,
    normalized,
    orangesum,
)

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("article_id", sorted(ORANGESUM))
def test_learned_summary_is_short_whole_and_not_the_title(article_id: str) -> None:
    article = orangesum(article_id)
    summary = LearnedSummarizer(max_words=30).summarize(article)
    assert 5 <= word_count(summary.text) <= 45
    assert ENDS_AS_SENTENCE.search(summary.text), summary.text
    assert normalized(summary.text) != normalized(article.title)
    assert summary.method == "learned-v3"


@pytest.mark.parametrize("max_words", [12, 30])
@pytest.mark.parametrize("article_id", sorted(ORANGESUM))
def test_learned_summary_never_cuts_a_word(article_id: str, max_words: int) -> None:
    article = orangesum(article_id)
    summary = LearnedSummarizer(max_words=max_words).summarize(article)
    source_words = {word.strip('.,;:…»«"') for word in article.text.split()}
    for word in summary.text.split():
        assert word.strip('.,;:…»«"') in source_words | {""}, word


def test_learned_summary_picks_the_news_rather_than_the_hook() -> None:
    summary = LearnedSummarizer().summarize(orangesum("14658"))
    assert not summary.text.startswith("Sur les réseaux sociaux")
    assert "paquebot" in summary.text


def test_learned_summary_is_deterministic() -> None:
    article = orangesum("19344")
    assert len({LearnedSummarizer().summarize(article) for _ in range(3)}) == 1


def test_a_good_standfirst_is_the_summary() -> None:
    summary = LearnedSummarizer().summarize(orangesum("14658", VENICE_STANDFIRST))
    assert summary.text == VENICE_STANDFIRST


def test_key_points_are_up_to_three_bullets_in_article_order() -> None:
    article = orangesum("19344")
    summary = LearnedSummarizer(style="key_points", max_words=20).summarize(article)
    lines = summary.text.split("\n")
    assert 2 <= len(lines) <= 3
    flat = " ".join(article.text.split())
    positions = []
    for line in lines:
        assert line.startswith(BULLET)
        body = line.removeprefix(BULLET)
        assert word_count(body) <= 20
        assert ENDS_AS_SENTENCE.search(body), body
        positions.append(flat.index(body.removesuffix("…")[:40]))
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "De même, pour les nouveaux utilisateurs, les données seront effacées.",
            "Pour les nouveaux utilisateurs, les données seront effacées.",
        ),
        (
            "Mais le permis lui a été refusé par la mairie.",
            "Le permis lui a été refusé par la mairie.",
        ),
        (
            "En outre, 30 000 prélèvements ont été faits dans dix provinces.",
            "30 000 prélèvements ont été faits dans dix provinces.",
        ),
        (
            "Ainsi, le gouvernement reporte la réforme des retraites.",
            "Le gouvernement reporte la réforme des retraites.",
        ),
    ],
)
def test_a_linking_word_that_points_back_is_dropped(text: str, expected: str) -> None:
    assert drop_connector(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Alors que le froid arrive, la mairie ouvre un gymnase.",
        "Aussi a-t-il décidé de partir très loin de Paris.",
        "Ainsi soit-il, dit le prêtre à la fin de la messe.",
        "Et pourtant elle tourne.",
        "Marseille et Lyon se disputent la première place du classement.",
        "Orléans a gagné, mais Tours a perdu le match de samedi soir.",
    ],
)
def test_a_sentence_whose_opening_is_its_own_keeps_it(text: str) -> None:
    assert drop_connector(text) == text


def test_a_summary_never_opens_on_a_word_pointing_at_a_sentence_left_out() -> None:
    # Every sentence opens on a linking word: whichever is chosen must lose it.
    text = " ".join(
        [
            "Par ailleurs, le conseil municipal de Lyon a voté mardi soir le budget de 2025.",
            "En outre, les élus ont adopté un plan de rénovation des écoles de la Guillotière.",
            "Mais l'opposition a dénoncé une hausse des impôts locaux de trois pour cent.",
            "De même, le prix des cantines scolaires augmentera de dix centimes en janvier.",
            "Cependant, le maire a promis une aide aux familles les plus modestes de la ville.",
        ]
    )
    for style in ("paragraph", "key_points"):
        summary = LearnedSummarizer(style=style).summarize(
            make_article(title="Le budget de Lyon est voté", text=text)
        )
        for line in summary.text.split("\n"):
            body = line.removeprefix(BULLET)
            assert drop_connector(body) == body, body
            assert body[0].isupper(), body
            assert body.rstrip(".…") in text or body[1:].rstrip(".…") in text, body


def test_a_character_budget_is_kept_without_cutting_a_word() -> None:
    article = orangesum("19344")
    summary = LearnedSummarizer(max_chars=120).summarize(article)
    assert len(summary.text) <= 120
    assert summary.text.endswith(("…", "."))
    last = summary.text.removesuffix("…").split()[-1]
    assert last in {word.rstrip(",;:") for word in article.text.split()}


def test_reading_tool_labels_never_reach_a_learned_summary() -> None:
    text = (
        "Lecture Zen\n\nRésumer l'article\n\nPublié le 24/01/2025 à 10h30\n\n"
        "La mairie a présenté jeudi son plan pour les pistes cyclables du centre-ville.\n\n"
        "Les travaux dureront deux ans."
    )
    summary = LearnedSummarizer().summarize(make_article("Pistes cyclables", text))
    assert summary.text == (
        "La mairie a présenté jeudi son plan pour les pistes cyclables du centre-ville. "
        "Les travaux dureront deux ans."
    )


def test_a_sentence_repeating_the_title_is_never_the_learned_summary() -> None:
    title = "Le Louvre rouvre ses portes"
    body = " ".join(f"Le musée a accueilli {n} visiteurs le premier jour." for n in range(2, 9))
    summary = LearnedSummarizer(max_words=10).summarize(make_article(title, f"{title}. {body}"))
    assert normalized(title) not in normalized(summary.text)


def test_an_article_without_text_is_a_summary_error() -> None:
    with pytest.raises(SummaryError, match="no text besides its title"):
        LearnedSummarizer().summarize(make_article("Titre seul", "Lecture Zen"))


def test_the_learned_summarizer_is_the_default_and_lead_stays_available() -> None:
    assert isinstance(make_summarizer(SummarizerSettings()), LearnedSummarizer)
    lead = make_summarizer(SummarizerSettings(kind="lead")).summarize(orangesum("14658"))
    assert lead.method == "lead-v1"


def test_the_model_ships_inside_the_package_and_is_small() -> None:
    package = files("digest.summaries")
    model, index = package.joinpath("model.json"), package.joinpath("neighbours.bin")
    assert len(model.read_bytes()) + len(index.read_bytes()) < 4_500_000
    assert json.loads(model.read_bytes())["format"] == 2


def test_the_model_weighs_words_and_first_words_as_well_as_features() -> None:
    model = json.loads(files("digest.summaries").joinpath("model.json").read_bytes())
    assert len(model["weights"]) == len(FEATURES)
    assert 100 <= len(model["word_weights"]) <= 2000
    assert "il" in model["opening_weights"]
    # An opening pronoun says the sentence leans on an earlier one: worse than "le".
    assert model["opening_weights"]["il"] < model["opening_weights"]["le"]


# -- candidates and features -------------------------------------------------------------

ASIDE = (
    "Le conseil municipal de Lyon (Rhône), réuni lundi soir, a voté la gratuité des "
    "transports en commun pour les moins de dix-huit ans à partir de septembre."
)
LONG = (
    "La gratuité des transports en commun pour les moins de dix-huit ans a été votée lundi "
    "soir par le conseil municipal, après un débat de plus de trois heures entre la majorité "
    "et l'opposition, qui dénonçait le coût de la mesure pour les finances de la ville et "
    "réclamait une étude préalable sur la fréquentation des lignes de tramway du centre."
)
SHORT = "La mesure coûtera quatre millions d'euros par an."


def _view(title: str, sentences: list[str]) -> ArticleView:
    return ArticleView(sentences, title, load_scorer().lexicon)


def test_a_sentence_is_also_offered_without_its_aside_in_parentheses() -> None:
    view = _view("Lyon : les transports gratuits pour les jeunes", [ASIDE, SHORT])
    pruned = [c for c in view.candidates(30) if c.pruned]
    assert [c.text for c in pruned] == [ASIDE.replace(" (Rhône)", "")]
    assert all(not c.cut for c in pruned)


def test_a_sentence_is_offered_with_the_start_of_the_next_one() -> None:
    view = _view("Lyon : les transports gratuits pour les jeunes", [SHORT, LONG])
    joined = [c for c in view.candidates(30) if c.count == 2 and c.cut]
    assert len(joined) == 1
    text = joined[0].text
    assert text.startswith(SHORT + " La gratuité") and text.endswith("…")
    assert word_count(text) <= 30


def test_a_cut_candidate_is_scored_on_the_words_it_keeps() -> None:
    # The title's words are all in the part of the long sentence that a cut drops.
    view = _view("Tramway : une étude préalable sur la fréquentation", [LONG, SHORT])
    whole = Candidate(LONG, 0, 1, cut=False)
    cut = next(c for c in view.candidates(30) if c.cut and c.count == 1)
    recall = FEATURES.index("title_lcs_recall")
    assert view.features(whole, 30)[recall] > view.features(cut, 30)[recall]
    assert "tramway" in view.words(whole)[0]
    assert "tramway" not in view.words(cut)[0]
    assert view.words(cut)[1] == "la"


def test_an_aside_is_not_pruned_when_that_would_unbalance_the_parentheses() -> None:
    odd = ASIDE.replace("(Rhône)", "(Rhône) )")
    view = _view("Lyon : les transports gratuits pour les jeunes", [odd, SHORT])
    assert not any(c.pruned for c in view.candidates(30))


def test_a_cut_never_leaves_an_aside_open() -> None:
    sentence = (
        "Le fonds finance une aide de cinquante euros pour la remise en état d'un vélo "
        "(changement de chaîne, freins, pneus, éclairage, selle) chez un réparateur agréé."
    )
    assert shorten(sentence, 20) == (
        "Le fonds finance une aide de cinquante euros pour la remise en état d'un vélo…"
    )
    early = "Le PKK (Parti des travailleurs du Kurdistan, classé comme organisation terroriste)"
    assert shorten(early, 8) == "Le PKK (Parti des travailleurs du Kurdistan…)"


def test_title_lcs_counts_the_title_words_in_their_order() -> None:
    view = _view("Le conseil a voté la gratuité", [ASIDE, SHORT])
    recall, precision = FEATURES.index("title_lcs_recall"), FEATURES.index("title_lcs_precision")
    values = view.features(Candidate(ASIDE, 0, 1, cut=False), 30)
    # "le conseil ... a voté la gratuité": all six title words, in order.
    assert values[recall] == 1.0
    assert values[precision] == pytest.approx(6 / 28)
    assert view.features(Candidate(SHORT, 1, 1, cut=False), 30)[recall] < 0.5


def test_the_token_model_rates_title_words_above_common_ones() -> None:
    view = _view("Lyon : les transports gratuits pour les jeunes", [ASIDE, LONG, SHORT])
    chances = view.token_chances()
    assert all(0.0 < chance < 1.0 for chance in chances.values())
    assert chances["transports"] > chances["soir"]


# -- the summary cache -------------------------------------------------------------------


def test_the_cache_key_follows_the_text_and_the_settings() -> None:
    article, settings = orangesum("1629"), SummarizerSettings()
    assert summary_key(article, settings) == summary_key(orangesum("1629"), settings)
    assert summary_key(article, settings) != summary_key(orangesum("14658"), settings)
    assert summary_key(article, settings) != summary_key(article, SummarizerSettings(max_words=20))


def test_a_rebuild_reuses_the_cached_summaries(database_url: str) -> None:
    settings = Settings()
    gathered = GatherResult(articles=(orangesum("14658"), orangesum("1629")))
    ledger = Ledger(database_url)
    try:
        first, errors = summarize_articles(settings, gathered, ledger, NOW)
        key = summary_key(gathered.articles[0], settings.summarizer)
        assert errors == []
        assert ledger.cached_summary(key) == first[0].summary
        # A summary already in the ledger is used as it is, not written again.
        ledger.cache_summary(key, first[1].summary, NOW)
        assert ledger.cached_summary(key) == first[0].summary
        again, _ = summarize_articles(settings, gathered, ledger, NOW)
    finally:
        ledger.close()
    assert [story.summary for story in again] == [story.summary for story in first]


def test_a_cached_summary_is_what_the_build_shows(tmp_path: Path) -> None:
    settings = Settings()
    article = orangesum("1629")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        edited = make_summarizer(settings.summarizer).summarize(orangesum("19344"))
        ledger.cache_summary(summary_key(article, settings.summarizer), edited, NOW)
        stories, _ = summarize_articles(settings, GatherResult(articles=(article,)), ledger, NOW)
    finally:
        ledger.close()
    assert stories[0].summary == edited


# -- the command -------------------------------------------------------------------------

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>{title}</title></head><body><article><h1>{title}</h1>{paragraphs}</article>
</body></html>"""


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        title, text = ORANGESUM["19344"]
        sentences = re.split(r"(?<=\.) ", text)
        paragraphs = "".join(f"<p>{sentence}</p>" for sentence in sentences)
        body = PAGE.format(title=title, paragraphs=paragraphs).encode()
        status = 200 if self.path == "/article" else 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def page_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_summarize_prints_the_summary_of_a_web_page(page_server: str, tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("[summarizer]\nmax_words = 30\n", encoding="utf-8")
    outcome = CliRunner().invoke(
        cli, ["--config", str(config), "summarize", f"{page_server}/article"]
    )
    assert outcome.exit_code == 0, outcome.output
    expected = LearnedSummarizer().summarize(orangesum("19344")).text
    assert outcome.output.strip() == expected


def test_summarize_names_a_missing_page_in_one_line(
    page_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("", encoding="utf-8")
    assert main(["--config", str(config), "summarize", f"{page_server}/x"]) == 1
    error = capsys.readouterr().err
    assert "404" in error
    assert f"{page_server}/x" in error
    assert len(error.strip().splitlines()) == 1


def test_summarize_jsonl_keeps_the_order_and_the_ids(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("", encoding="utf-8")
    lines = [{"id": key, "title": title, "text": text} for key, (title, text) in ORANGESUM.items()]
    stdin = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    outcome = CliRunner().invoke(
        cli, ["--config", str(config), "summarize", "--jsonl", "-"], input=stdin
    )
    assert outcome.exit_code == 0, outcome.output
    records = [json.loads(line) for line in outcome.output.splitlines()]
    assert [record["id"] for record in records] == list(ORANGESUM)
    summarizer = LearnedSummarizer()
    assert records[0]["summary"] == summarizer.summarize(orangesum(records[0]["id"])).text
