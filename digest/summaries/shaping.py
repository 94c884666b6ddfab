"""Text shaping shared by the summarizers: clean sentences, cut at a clause, end as a sentence."""

from __future__ import annotations

import re

from digest.french import word_count

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
SENTENCE_END = re.compile(r"[.!?…][\s\u00a0\u202f»”\"’)\]]*$")
_CLAUSE_END = (",", ";", ":", "—", "–")
_MIN_BEFORE_QUOTE = 4
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
# Linking words that open a sentence by pointing back at the one before. Those that can
# also open a clause of their own ("Ainsi soit-il", "Alors que", "Aussi a-t-il") are only
# taken with their comma.
_CONNECTOR = re.compile(
    r"(?:(?:de même|par ailleurs|en outre|pourtant|cependant|toutefois|néanmoins|en effet"
    r"|d'ailleurs|d’ailleurs|enfin|de plus|en revanche|au contraire|dans le même temps"
    r"|parallèlement|du coup|bref|ainsi|de son côté|de leur côté|pour sa part|or|mais|et"
    r"|puis|donc),[\s\u00a0]+|(?:mais|et|or|puis)[\s\u00a0]+)",
    re.IGNORECASE,
)
_MIN_AFTER_CONNECTOR = 6
_WORD = re.compile(r"[^\W\d_]{3,}")
_NON_WORD = re.compile(r"[\W_]+")


def clean_sentences(sentences: list[str], title: str) -> list[str]:
    """Sentences without reading-tool labels, bylines or a repeat of ``title`` (normalized)."""
    kept: list[str] = []
    for sentence in sentences:
        sentence = _BYLINE.sub("", _UI_LABELS.sub("", sentence)).strip()
        if not _NON_WORD.sub("", sentence) or _NOISE.match(sentence):
            continue
        if normalized(sentence) != title:
            kept.append(sentence)
    return kept


def is_fragment(sentence: str) -> bool:
    """Whether a sentence comes from a missed boundary: lower-case start, unbalanced quotes."""
    return (
        sentence[0].islower()
        or sentence.count('"') % 2 == 1
        or sentence.count("«") != sentence.count("»")
    )


def shorten(sentence: str, max_words: int) -> str:
    """Cut a long sentence at a clause boundary (else a word boundary) and mark the cut."""
    words = sentence.split()[:max_words]
    for cut in range(len(words), max_words // 2, -1):
        if words[cut - 1].endswith(_CLAUSE_END):
            words = words[:cut]
            break
    if sum(word.count('"') for word in words) % 2:
        # Cut before the quotation the cut would leave open, unless little would remain.
        opener = max(index for index, word in enumerate(words) if '"' in word)
        words = words[:opener] if opener >= _MIN_BEFORE_QUOTE else words
    if sum(word.count("(") - word.count(")") for word in words) > 0:
        # Cut before the aside the cut would leave open, unless little would remain.
        opener = max(index for index, word in enumerate(words) if "(" in word)
        words = words[:opener] if opener >= _MIN_BEFORE_QUOTE else words
    while len(words) > 1 and (words[-1].lower() in _DANGLING or not _NON_WORD.sub("", words[-1])):
        words.pop()
    text = " ".join(words).rstrip(',;:—–-«“"( \u00a0\u202f') + "…"
    if text.count("(") > text.count(")"):
        text += ")"
    if text.count("«") > text.count("»"):
        text += " »"
    elif text.count('"') % 2:
        text += '"'
    return text


def drop_connector(text: str) -> str:
    """``text`` without a linking word that points back to a sentence the reader has not
    seen ("De même, ...", "Mais ...", "En outre, ..."), when enough is left to stand alone."""
    match = _CONNECTOR.match(text)
    if match is None:
        return text
    rest = text[match.end() :]
    if word_count(rest) < _MIN_AFTER_CONNECTOR or not (rest[:1].isalnum() or rest[:1] in '«“"'):
        return text
    return rest[0].upper() + rest[1:]


def finish(text: str) -> str:
    """End on a full stop when the chosen text (an intertitle, a standfirst) has none."""
    if SENTENCE_END.search(text):
        return text
    return text.rstrip(",;: \u00a0\u202f") + "."


def total_words(sentences: list[str]) -> int:
    """Words in all of ``sentences``."""
    return sum(word_count(sentence) for sentence in sentences)


def normalized(text: str) -> str:
    """Casefolded words of ``text`` separated by one space, to compare texts."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


def content_words(text: str) -> set[str]:
    """Casefolded words of three letters or more that are not stop words."""
    return {word for word in _WORD.findall(text.casefold()) if word not in _STOPWORDS}
