"""The model summarizer: an OpenAI-compatible chat completions endpoint writes the summary.

Off by default. Every answer is checked (French, length, grounding in the article) before
use; a failed check, a timeout or an HTTP error falls back to the offline summarizer for
that article, and the reason is reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from digest.config import ModelEndpointSettings, SummarizerSettings
from digest.errors import SummaryError
from digest.french import split_sentences, word_count
from digest.models import Article, Summary
from digest.summaries.learned import BULLET, KEY_POINTS, LearnedSummarizer
from digest.summaries.written import Written

METHOD = "model-v1"
log = logging.getLogger(__name__)

# Models overshoot a length target a little; past this factor the answer is refused.
_LENGTH_SLACK = 1.5
# Share of French function words in ordinary French prose is well above this; English
# prose has next to none of them.
_MIN_FRENCH_RATIO = 0.12
_FRENCH = frozenset(
    str.split(
        "le la les un une des du de d l et est sont à au aux en dans sur pour par avec qui "
        "que qu ne pas plus a été ont il elle ils elles se sa son ses leur leurs ce cette ces "
        "ou mais comme selon après avant entre lors"
    )
)
_ENGLISH = frozenset(
    str.split(
        "the a an and is are was were of to in on for with by that this which it its "
        "from as at be has have had not but or they he she"
    )
)
_WORDS = re.compile(r"[^\W\d_]+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[ \u00a0\u202f.,]\d+)*")
_QUOTED = re.compile(r"«\s*([^»]+?)\s*»|“([^”]+)”|\"([^\"]+)\"")
_CAPITALISED = re.compile(r"\b[A-ZÀ-ÖØ-ÞŒ][\w'’-]*")
_BULLET_MARK = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s*")


@dataclass(frozen=True, slots=True)
class ModelSummarizer:
    """Ask a chat completions endpoint for the summary; fall back to the offline one."""

    settings: SummarizerSettings
    fallback: LearnedSummarizer

    def summarize(self, article: Article) -> Summary:
        """The model's summary when it passes the checks, else the fallback's."""
        written = self.summarize_all([article])[0]
        if written.summary is None:
            raise SummaryError(written.error)
        return written.summary

    def summarize_all(self, articles: Sequence[Article]) -> list[Written]:
        """Summaries in order, up to ``concurrency`` requests in flight."""
        endpoint = self.settings.model
        with (
            httpx.Client(
                timeout=endpoint.timeout_seconds, headers=_headers(self.settings.api_key)
            ) as client,
            ThreadPoolExecutor(max_workers=endpoint.concurrency) as pool,
        ):
            return list(pool.map(lambda article: self._write(client, article), articles))

    def _write(self, client: httpx.Client, article: Article) -> Written:
        """One article: the checked model answer, or the fallback and why."""
        try:
            answer = ask_model(client, self.settings.model, build_prompt(self.settings, article))
            text = check_summary(answer, article, self.settings)
            return Written(Summary(text=text, method=f"{METHOD}:{self.settings.model.name}"))
        except SummaryError as exc:
            reason = str(exc)
        name = article.url or repr(article.title)
        log.warning("summary of %s written offline: %s", name, reason)
        try:
            return Written(self.fallback.summarize(article), fallback=f"{name}: {reason}")
        except SummaryError as exc:
            return Written(None, error=str(exc))


def _headers(api_key: SecretStr) -> dict[str, str]:
    key = api_key.get_secret_value()
    return {"Authorization": f"Bearer {key}"} if key else {}


def build_prompt(settings: SummarizerSettings, article: Article) -> list[dict[str, str]]:
    """The chat messages asking for a French summary of the configured length and style."""
    length = (
        f"{settings.max_chars} caractères au plus"
        if settings.max_chars
        else f"{settings.max_words} mots au plus"
    )
    shape = (
        f"en {KEY_POINTS} points clés au plus, un par ligne, chacun commençant par « • »"
        if settings.style == "key_points"
        else "en un seul court paragraphe de phrases complètes"
    )
    system = (
        "Tu résumes des articles de presse en français pour une lettre d'information. "
        "Réponds uniquement par le résumé, en français, sans titre ni préambule. "
        "N'invente rien : chaque nombre, chaque nom propre et chaque citation du résumé "
        "doit figurer tel quel dans l'article."
    )
    user = (
        f"Résume cet article {shape}, {length}.\n\n"
        f"Titre : {article.title}\n\n{article.standfirst}\n\n{article.text}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def ask_model(
    client: httpx.Client, endpoint: ModelEndpointSettings, messages: list[dict[str, str]]
) -> str:
    """The endpoint's answer text; SummaryError on a timeout, an HTTP error or a bad answer."""
    body = {"model": endpoint.name, "messages": messages, "temperature": 0}
    try:
        response = client.post(f"{endpoint.base_url}/chat/completions", json=body)
        response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
    except httpx.TimeoutException as exc:
        raise SummaryError("timeout") from exc
    except httpx.HTTPStatusError as exc:
        raise SummaryError(f"HTTP {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise SummaryError(f"endpoint unreachable ({type(exc).__name__})") from exc
    except (ValueError, LookupError, TypeError) as exc:
        raise SummaryError("malformed answer") from exc
    if not isinstance(content, str) or not content.strip():
        raise SummaryError("empty answer")
    return content


def check_summary(answer: str, article: Article, settings: SummarizerSettings) -> str:
    """The answer tidied to the configured style; SummaryError naming the failed check."""
    text = _shape(answer, settings)
    _check_french(text)
    _check_length(text, settings)
    _check_grounded(text, " ".join((article.title, article.standfirst, article.text)))
    return text


def _shape(answer: str, settings: SummarizerSettings) -> str:
    lines = [_BULLET_MARK.sub("", line).strip() for line in answer.strip().splitlines()]
    lines = [line for line in lines if line]
    if settings.style == "key_points":
        if len(lines) > KEY_POINTS:
            raise SummaryError(f"too long: {len(lines)} key points, at most {KEY_POINTS}")
        return "\n".join(BULLET + line for line in lines)
    return " ".join(lines)


def _check_french(text: str) -> None:
    words = [word.lower() for word in _WORDS.findall(text)]
    french = sum(word in _FRENCH for word in words)
    english = sum(word in _ENGLISH for word in words)
    if not words or french < english or french / len(words) < _MIN_FRENCH_RATIO:
        raise SummaryError("not French")


def _check_length(text: str, settings: SummarizerSettings) -> None:
    plain = text.replace(BULLET, "")
    if settings.max_chars:
        size, bound, unit = len(plain), settings.max_chars, "characters"
    else:
        size, bound, unit = word_count(plain), settings.max_words, "words"
    if size > bound * _LENGTH_SLACK:
        raise SummaryError(f"too long: {size} {unit} for {bound}")


def _check_grounded(text: str, source: str) -> None:
    flat, numbers = _flatten(source), _canonical_numbers(source)
    for number in _NUMBER.findall(text):
        if _canonical_number(number) not in numbers:
            raise SummaryError(f"ungrounded number {number!r}")
    for match in _QUOTED.finditer(text):
        quote = next(group for group in match.groups() if group)
        if _flatten(quote) not in flat:
            raise SummaryError(f"ungrounded quotation {quote[:40]!r}")
    source_words = set(_CAPITALISED.findall(source))
    for name in _inner_capitalised(_QUOTED.sub(" ", text)):
        if name not in source_words:
            raise SummaryError(f"ungrounded name {name!r}")


def _inner_capitalised(text: str) -> list[str]:
    """Capitalised words that do not open a sentence or a line."""
    names = []
    for line in text.splitlines():
        for sentence in split_sentences(line):
            body = sentence.lstrip("•«“\"'‘( -—–")
            names += [m.group() for m in _CAPITALISED.finditer(body) if m.start() > 0]
    return names


def _flatten(text: str) -> str:
    text = text.replace("’", "'").replace("\u00a0", " ").replace("\u202f", " ")
    return " ".join(text.split()).lower()


def _canonical_number(number: str) -> str:
    return re.sub(r"[ \u00a0\u202f]", "", number).replace(".", ",").rstrip(",")


def _canonical_numbers(source: str) -> set[str]:
    # Digit runs alone too: "en 2024 12 communes" must ground "12" as well as "2024".
    runs = set(re.findall(r"\d+", source))
    return runs | {_canonical_number(number) for number in _NUMBER.findall(source)}


def make_model_summarizer(settings: SummarizerSettings) -> ModelSummarizer:
    """The model summarizer of ``settings``, with the learned summarizer as its fallback."""
    fallback = LearnedSummarizer(
        max_words=settings.max_words, max_chars=settings.max_chars, style=settings.style
    )
    return ModelSummarizer(settings, fallback)
