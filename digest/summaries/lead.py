"""The lead summarizer: the standfirst, else the article's opening sentences; offline."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.errors import SummaryError
from digest.french import split_sentences, word_count
from digest.models import Article, Summary

METHOD = "lead-v1"

# A standfirst shorter than this is a kicker ("BEST-OF POLITIQUE."), not a summary.
_STANDFIRST_MIN_WORDS = 6
# A first sentence up to this many times max_words is kept whole rather than cut.
_LONG_SENTENCE_FACTOR = 1.5
# The summary may start at any of the first few sentences (news leads sometimes open
# with a hook such as "La vidéo est devenue virale.").
_START_WINDOW = 4
_POSITION_PENALTY = 0.2
_HOOK_WORDS = 8
_HOOK_PENALTY = 0.3
# A fragment (lower-case start, unbalanced quotes) comes from a missed boundary upstream.
_FRAGMENT_PENALTY = 1.0

# Labels of reading tools that page extraction may leave in the text.
_UI_LABELS = re.compile(
    r"\b(?:Lecture\s+Zen|Résumer\s+l['’]article|Écouter\s+l['’]article"
    r"|Temps\s+de\s+lecture\s*:\s*\d+\s*min(?:utes?)?)\b\s*[:.]?",
    re.IGNORECASE,
)
_DATE = r"\d{1,2}(?:er)?[\s/.-]+(?:\d{1,2}|[^\W\d_]+)[\s/.-]+\d{2,4}"
_TIME = r"\d{1,2}\s*[h:]\s*\d{0,2}"
_BYLINE = re.compile(
    rf"^(?:par\s+[^.,]{{1,60}}?[,\s]\s*)?(?:publié|mis\s+à\s+jour|modifié)\s+le\s+{_DATE}"
    rf"(?:\s*,?\s*(?:à\s+)?{_TIME}(?:\s*min)?)?[\s,.;:-]*",
    re.IGNORECASE,
)
_NOISE = re.compile(
    r"^(?:(?:à\s+)?lire\s+(?:aussi|également)|voir\s+aussi|partager\b|abonnez-vous"
    r"|crédits?\s+photos?|photo\s*:|©|publié\s+le\b|mis\s+à\s+jour\s+le\b)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…][\s\u00a0\u202f»”\"’)\]]*$")
_CLAUSE_END = (",", ";", ":", "—", "–")
# A cut summary should not end on a word that announces what was cut away.
_DANGLING = frozenset(
    str.split(
        "à au aux avec dans de des du en et la le les leur mais ni ou par pour que qui sa sans "
        "ses son sur un une car donc dont où"
    )
)
_STOPWORDS = frozenset(
    str.split(
        "alors aussi avec avoir cela celle celui ces cet cette comme dans des elle elles est été "
        "être leur leurs mais même nous ont par pas plus pour que qui sans ses son sont sur "
        "tout tous une vous"
    )
)
_WORD = re.compile(r"[^\W\d_]{3,}")
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class LeadSummarizer:
    """Summarize with the standfirst or the best opening sentences, whole where possible."""

    max_words: int = 30

    def __post_init__(self) -> None:
        if self.max_words < 1:
            raise ValueError(f"max_words must be at least 1, not {self.max_words}")

    def summarize(self, article: Article) -> Summary:
        """Write a summary of about ``max_words`` words; SummaryError when there is no text."""
        title = _normalized(article.title)
        standfirst = _clean(split_sentences(article.standfirst), title)
        pool = standfirst if _words(standfirst) >= _STANDFIRST_MIN_WORDS else []
        pool = pool or self._lead(_clean(split_sentences(article.text), title), article.title)
        pool = pool or standfirst
        if not pool:
            name = article.url or repr(article.title)
            raise SummaryError(f"cannot summarize {name}: it has no text besides its title")
        return Summary(text=_finish(self._select(pool)), method=METHOD)

    def _lead(self, sentences: list[str], title: str) -> list[str]:
        """The body's sentences from the best opening one; a short body is kept whole."""
        if _words(sentences) <= self.max_words:
            return sentences
        # Intertitles carry no final punctuation; a summary is made of real sentences.
        complete = [sentence for sentence in sentences if _SENTENCE_END.search(sentence)]
        candidates = complete or sentences
        return candidates[_best_start(candidates, title) :]

    def _select(self, sentences: list[str]) -> str:
        """Whole sentences up to max_words; a too long first one is cut at a clause."""
        first, total = sentences[0], word_count(sentences[0])
        if total > self.max_words * _LONG_SENTENCE_FACTOR:
            return _shorten(first, self.max_words)
        chosen = [first]
        for sentence in sentences[1:]:
            total += word_count(sentence)
            if total > self.max_words:
                break
            chosen.append(sentence)
        return " ".join(chosen)


def _clean(sentences: list[str], title: str) -> list[str]:
    """Sentences without reading-tool labels, bylines or a repeat of the title."""
    kept: list[str] = []
    for sentence in sentences:
        sentence = _BYLINE.sub("", _UI_LABELS.sub("", sentence)).strip()
        if not _NON_WORD.sub("", sentence) or _NOISE.match(sentence):
            continue
        if _normalized(sentence) != title:
            kept.append(sentence)
    return kept


def _best_start(sentences: list[str], title: str) -> int:
    """Index of the opening sentence: early, about the title, not a hook nor a fragment."""
    topic = _content_words(title)

    def score(index: int) -> tuple[float, int]:
        sentence = sentences[index]
        overlap = len(_content_words(sentence) & topic) / len(topic) if topic else 0.0
        hook = _HOOK_PENALTY if word_count(sentence) < _HOOK_WORDS else 0.0
        fragment = _FRAGMENT_PENALTY if _is_fragment(sentence) else 0.0
        return (overlap - hook - fragment - _POSITION_PENALTY * index, -index)

    return max(range(min(_START_WINDOW, len(sentences))), key=score)


def _is_fragment(sentence: str) -> bool:
    return (
        sentence[0].islower()
        or sentence.count('"') % 2 == 1
        or sentence.count("«") != sentence.count("»")
    )


def _shorten(sentence: str, max_words: int) -> str:
    """Cut a long sentence at a clause boundary (else a word boundary) and mark the cut."""
    words = sentence.split()[:max_words]
    for cut in range(len(words), max_words // 2, -1):
        if words[cut - 1].endswith(_CLAUSE_END):
            words = words[:cut]
            break
    while len(words) > 1 and (words[-1].lower() in _DANGLING or not _NON_WORD.sub("", words[-1])):
        words.pop()
    text = " ".join(words).rstrip(',;:—–-«“"( \u00a0\u202f') + "…"
    if text.count("«") > text.count("»"):
        text += " »"
    return text


def _finish(text: str) -> str:
    """End on a full stop when the chosen text (an intertitle, a standfirst) has none."""
    if _SENTENCE_END.search(text):
        return text
    return text.rstrip(",;: \u00a0\u202f") + "."


def _words(sentences: list[str]) -> int:
    return sum(word_count(sentence) for sentence in sentences)


def _normalized(text: str) -> str:
    return _NON_WORD.sub(" ", text.casefold()).strip()


def _content_words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.casefold()) if word not in _STOPWORDS}
