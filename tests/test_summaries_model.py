"""The model summarizer, against a local HTTP server that stands in for the model.

The server on 127.0.0.1 speaks the OpenAI chat completions API (POST /v1/chat/completions)
and answers each article with a scripted reply chosen by the article's title, so every
check and every fallback is exercised over real HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.config import ModelEndpointSettings, Settings, SummarizerSettings, load_settings
from digest.errors import ConfigError
from digest.ledger import Ledger
from digest.models import Article, GatherResult
from digest.pipeline import summarize_counted
from digest.summaries import ModelSummarizer, make_summarizer, summary_key
from digest.summaries.learned import LearnedSummarizer
from tests.conftest import SmtpServer
from tests.weekkit import digest, write_config

NOW = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
KEY = "sk-test-0123456789abcdef"
TEXT = (
    "La piscine du Rhône rouvrira le 14 juin après deux ans de travaux. Le chantier a coûté "
    "12,5 millions d'euros, a indiqué Grégory Doucet devant le conseil municipal. « C'est un "
    "lieu qui appartient à tous les Lyonnais », a déclaré le maire. Les tarifs restent "
    "inchangés pour les habitants de la ville, qui pourront nager dès 7 heures."
)
GOOD = (
    "La piscine du Rhône rouvrira le 14 juin après deux ans de travaux et 12,5 millions "
    "d'euros. « C'est un lieu qui appartient à tous les Lyonnais », selon Grégory Doucet."
)
REPLIES = {
    "good": (200, GOOD),
    "number": (200, "La piscine du Rhône rouvrira le 15 juin après deux ans de travaux."),
    "english": (200, "The Rhône swimming pool will reopen on 14 June after two years of work."),
    "long": (200, " ".join(["La piscine du Rhône rouvrira le 14 juin après les travaux."] * 6)),
    "server": (500, ""),
    "slow": (200, GOOD),
    "points": (200, "- Réouverture de la piscine le 14 juin.\n- Les tarifs restent inchangés."),
    "name": (200, "La piscine du Rhône rouvrira le 14 juin, selon Gérard Collomb."),
    "quote": (200, "Pour le maire, « c'est un lieu pour tous les Français »."),
}


@dataclass
class ModelServer:
    """A stand-in for the model: scripted chat completions answers, requests recorded."""

    url: str
    requests: list[tuple[dict[str, str], dict[str, object]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(state: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((dict(self.headers), body))
            prompt = body["messages"][-1]["content"]
            case = prompt.split("Titre : ")[1].split(" ")[0]
            status, content = REPLIES.get(case, (500, ""))
            if case == "slow":
                state.release.wait(5)
            answer = {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]
            }
            payload = json.dumps(answer).encode() if status == 200 else b'{"error": "boom"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (the timeout case)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    state = ModelServer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def article(case: str) -> Article:
    return Article(
        url=f"https://actu.exemple.fr/{case}",
        title=f"{case} : la piscine du Rhône rouvre",
        text=TEXT,
        published=dt.datetime(2025, 1, 22, 9, 30, tzinfo=dt.UTC),
        source="Exemple",
    )


def model_settings(url: str, **changes: object) -> SummarizerSettings:
    endpoint = ModelEndpointSettings(
        base_url=url, name="stand-in", timeout_seconds=0.5, concurrency=3
    )
    return SummarizerSettings(kind="model", model=endpoint, **changes)  # type: ignore[arg-type]


def test_a_good_answer_is_used(model_server: ModelServer) -> None:
    summarizer = make_summarizer(model_settings(model_server.url))
    assert isinstance(summarizer, ModelSummarizer)
    summary = summarizer.summarize(article("good"))
    assert summary.text == GOOD
    assert summary.method == "model-v1:stand-in"
    headers, body = model_server.requests[0]
    assert body["model"] == "stand-in"
    prompt = json.dumps(body["messages"], ensure_ascii=False)
    assert "en français" in prompt and "30 mots au plus" in prompt and "paragraphe" in prompt
    assert "Authorization" not in headers


def test_the_prompt_asks_for_the_configured_style_and_length(model_server: ModelServer) -> None:
    settings = model_settings(model_server.url, style="key_points", max_chars=200)
    summary = make_summarizer(settings).summarize(article("good"))
    prompt = json.dumps(model_server.requests[0][1]["messages"], ensure_ascii=False)
    assert "points clés" in prompt and "200 caractères au plus" in prompt
    assert summary.text == "• " + GOOD
    # Bullets are re-drawn; a capitalised word opening a bullet is not a name to ground.
    points = make_summarizer(settings).summarize(article("points"))
    assert points.text == "• Réouverture de la piscine le 14 juin.\n• Les tarifs restent inchangés."


def test_each_failed_answer_falls_back_and_is_counted(model_server: ModelServer) -> None:
    cases = ["good", "number", "english", "long", "server", "slow"]
    gathered = GatherResult(articles=tuple(article(case) for case in cases))
    settings = Settings(summarizer=model_settings(model_server.url))
    stories, errors, fallbacks = summarize_counted(settings, gathered, None, NOW)
    offline = LearnedSummarizer().summarize(article("good"))
    assert errors == []
    assert [story.summary.method for story in stories] == ["model-v1:stand-in"] + [
        offline.method
    ] * 5
    assert stories[1].summary == offline
    assert fallbacks == (
        "https://actu.exemple.fr/number: ungrounded number '15'",
        "https://actu.exemple.fr/english: not French",
        "https://actu.exemple.fr/long: too long: 66 words for 30",
        "https://actu.exemple.fr/server: HTTP 500",
        "https://actu.exemple.fr/slow: timeout",
    )


def test_grounding_checks_names_and_quotations(model_server: ModelServer) -> None:
    gathered = GatherResult(articles=(article("name"), article("quote")))
    settings = Settings(summarizer=model_settings(model_server.url))
    _, _, fallbacks = summarize_counted(settings, gathered, None, NOW)
    assert fallbacks == (
        "https://actu.exemple.fr/name: ungrounded name 'Gérard'",
        "https://actu.exemple.fr/quote: ungrounded quotation "
        '"c\'est un lieu pour tous les Français"',
    )


def test_good_answers_are_cached_and_fallbacks_asked_again(
    model_server: ModelServer, tmp_path: Path
) -> None:
    settings = Settings(summarizer=model_settings(model_server.url))
    gathered = GatherResult(articles=(article("good"), article("server")))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        first = summarize_counted(settings, gathered, ledger, NOW)
        again = summarize_counted(settings, gathered, ledger, NOW)
        good_key = summary_key(gathered.articles[0], settings.summarizer)
        assert ledger.cached_summary(good_key) == first[0][0].summary
        server_key = summary_key(gathered.articles[1], settings.summarizer)
        assert ledger.cached_summary(server_key) is None
    finally:
        ledger.close()
    assert [s.summary for s in again[0]] == [s.summary for s in first[0]]
    assert again[2] == ("https://actu.exemple.fr/server: HTTP 500",)
    # Two requests the first time, only the failed one the second time.
    assert len(model_server.requests) == 3


def test_the_key_is_sent_but_never_logged_nor_shown(
    model_server: ModelServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DIGEST_SUMMARIZER__API_KEY", KEY)
    monkeypatch.setenv("DIGEST_SUMMARIZER__KIND", "model")
    monkeypatch.setenv("DIGEST_SUMMARIZER__MODEL__NAME", "stand-in")
    monkeypatch.setenv("DIGEST_SUMMARIZER__MODEL__BASE_URL", model_server.url)
    settings = load_settings(None)
    caplog.set_level(logging.DEBUG)
    summarizer = make_summarizer(settings.summarizer)
    gathered = GatherResult(articles=(article("good"), article("server")))
    summarize_counted(settings, gathered, None, NOW)
    assert {headers["Authorization"] for headers, _ in model_server.requests} == {f"Bearer {KEY}"}
    assert "written offline: HTTP 500" in caplog.text
    for shown in (caplog.text, repr(settings), repr(summarizer), str(settings.summarizer)):
        assert KEY not in shown


def test_the_key_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(f"[summarizer]\napi_key = '{KEY}'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="set DIGEST_SUMMARIZER__API_KEY instead"):
        load_settings(path)


def test_the_model_kind_needs_a_model_name(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text("[summarizer]\nkind = 'model'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"needs summarizer\.model\.name"):
        load_settings(path)


def test_the_model_is_off_by_default() -> None:
    assert isinstance(make_summarizer(Settings().summarizer), LearnedSummarizer)


def test_the_build_report_counts_the_fallbacks(
    tmp_path: Path, smtp_server: SmtpServer, model_server: ModelServer
) -> None:
    config = write_config(tmp_path, smtp_server)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n[summarizer]\nkind = 'model'\n[summarizer.model]\n"
            f"base_url = '{model_server.url}'\nname = 'stand-in'\n"
        )
    built = digest(config, "build", "--week", "2025-W04", "--out", "out")
    assert built.returncode == 0, built.stderr
    # The stand-in answers 500 to articles it has no script for: all of this week's.
    reasons = [line for line in built.stdout.splitlines() if line.startswith("    fallback:")]
    assert reasons and all(line.endswith(": HTTP 500") for line in reasons)
    assert f"summaries: {len(reasons)} written offline" in built.stdout
    assert len(model_server.requests) == len(reasons)
