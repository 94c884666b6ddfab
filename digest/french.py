"""French text: sentence splitting, typography for readers, word counts and reading time."""

from __future__ import annotations

import re

WORDS_PER_MINUTE = 230

NNBSP = "\u202f"  # narrow no-break space: before ; : ! ? and inside « »
NBSP = "\u00a0"  # no-break space (kept where a writer put it, e.g. "17 h")

# --- Sentences -------------------------------------------------------------------------

# A terminator run, the closing quotes or brackets that belong to its sentence, the gap,
# and a peek at what follows. A French » may be preceded by a space; a straight quote
# only counts as closing when glued, since `dit. "Bonjour"` opens the next sentence.
_CANDIDATE = re.compile(
    r"(?P<end>[.!?…]+)"
    r"(?P<close>(?:[ \u00a0\u202f]*[»”]|[\"’)\]])*)"
    r"(?P<gap>\s*)"
    r"(?=(?P<next>\S))"
)
_OPENERS = frozenset('«"“‘(—–')
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u00a0\u202f]*\n\s*")
_SOFT_SPACE = re.compile(r"[ \t\r\n\f\v]+")

# Written with a final dot yet never the end of a sentence before a capital: titles
# (case matters: "MM." is Messieurs, "mm." millimetres) and reference forms.
_TITLES = frozenset(str.split("M MM Mme Mmes Mlle Mlles Dr Drs Pr Me Mgr St Ste Sts Cie Jr Sr"))
_SHORT_FORMS = frozenset(
    str.split(
        "av apr cf p pp art chap vol env ex fig réf tél vs n no coll dir éd trad ibid op cit "
        "bd boul hab sq"
    )
)
_CAPITAL = "A-ZÀ-ÖØ-ÞŒ"
_INITIALS = re.compile(rf"(?:[{_CAPITAL}]\.-?)*[{_CAPITAL}]")
_ERA = re.compile(r"\b(?:av|apr)\.\s*J\.-C$", re.IGNORECASE)
_LEADING_MARKS = '«"“‘([—–'
_LOOKBACK = 48


def split_sentences(text: str) -> list[str]:
    """Split French text into sentences; a blank line always ends one."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = _SOFT_SPACE.sub(" ", paragraph).strip()
        if paragraph:
            sentences.extend(_split_paragraph(paragraph))
    return sentences


def _split_paragraph(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(text):
        if _is_boundary(text, match):
            opens = _opens_next(text, start, match)
            end = match.end("close") - (1 if opens else 0)
            sentence = text[start:end].strip()
            if sentence:
                sentences.append(sentence)
            start = end if opens else match.end("gap")
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _opens_next(text: str, start: int, match: re.Match[str]) -> bool:
    """`fin."Début`: a glued straight quote after balanced quotes opens the next sentence."""
    return (
        not match["gap"]
        and match["close"].endswith('"')
        and match["next"].isalpha()
        and text.count('"', start, match.start("close")) % 2 == 0
    )


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    nxt, glued, at = match["next"], not match["gap"], match.start()
    if glued:
        # Paragraphs joined without a space ("fin.Début") but never "2.600" or "J.-C."
        if not (nxt.isalpha() and nxt.isupper()) or _in_web_address(text, at):
            return False
    elif not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    if at > 0 and text[at - 1] in "([":
        return False  # "(…)" and "[…]" mark a cut in a quotation
    return match["end"] != "." or not _is_abbreviation(text, at)


def _is_abbreviation(text: str, dot: int) -> bool:
    before = text[max(0, dot - _LOOKBACK) : dot]
    word = before.rsplit(maxsplit=1)[-1] if before.strip() else ""
    word = word.lstrip(_LEADING_MARKS)
    if word in _TITLES or word.lower() in _SHORT_FORMS:
        return True
    if _INITIALS.fullmatch(word):
        # "av. J.-C." closes a date and may end a sentence; other initials lead a name.
        return _ERA.search(before) is None
    return False


def _in_web_address(text: str, index: int) -> bool:
    left = max(text.rfind(" ", 0, index), text.rfind("\u00a0", 0, index)) + 1
    right = text.find(" ", index)
    word = text[left : right if right != -1 else len(text)].lower()
    return "://" in word or "www." in word or "@" in word


# --- Typography ------------------------------------------------------------------------

# Left exactly as written: code, style sheets, web and mail addresses, tags, character references.
_PROTECTED = re.compile(
    r"<(code|pre|kbd|samp|script|style|mj-style|mj-title)\b[^>]*>.*?</\1\s*>"
    r"|`[^`\n]+`"
    r"|(?:https?|ftp)://[^\s<>\"«»]+"
    r"|mailto:[^\s<>\"«»]+"
    r"|\bwww\.[^\s<>\"«»]+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|<[^<>]*>"
    r"|&#?\w+;"
    r"|\ue000",
    re.IGNORECASE | re.DOTALL,
)
_PLACEHOLDER = "\ue000"  # a private-use character; one already in the text is protected too
_HSPACE = "[ \\t\\u00a0\\u202f]"
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])")
# A pair of straight double quotes on one line, opening after a space or a bracket and
# closing before a space or a punctuation mark: "Nomadland" is French « Nomadland ».
_STRAIGHT_QUOTES = re.compile(
    r'(?<![^\s(\[—–\ue000])"(?=[^\s"])([^"\n]*?[^\s"])"(?=[\s.,;:!?…)\]\ue000]|$)'
)
_SPACED_HIGH = re.compile(rf"(?<=\S){_HSPACE}+(?=[;:!?])")
# Only add a missing space when the sign closes a phrase (followed by a space, a closing
# mark, a tag or the end): "page?id=3", "10:30" and "3:1" are followed by a character.
_GLUED_HIGH = re.compile(r"(?<=[^\W_]|[»”)\]])([;!?]+)(?=[\s»”)\]\"’\ue000]|$)")
_GLUED_COLON = re.compile(r"(?<=[^\W\d_]|[»”)\]]):(?=[\s\ue000]|$)")
_OPEN_QUOTE = re.compile(rf"«{_HSPACE}*")
_CLOSE_QUOTE = re.compile(rf"{_HSPACE}*»")


def typography(text: str) -> str:
    """Apply French typography (no-break spaces, quotes, apostrophes, ellipses); idempotent."""
    # Protected spans become one placeholder each, so the rules still see that a
    # non-space precedes " ;" in "jean@exemple.fr ;", then come back in order.
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group())
        return _PLACEHOLDER

    typeset = _typeset(_PROTECTED.sub(keep, text))
    pieces = typeset.split(_PLACEHOLDER)
    return pieces[0] + "".join(k + piece for k, piece in zip(kept, pieces[1:], strict=True))


def _typeset(chunk: str) -> str:
    chunk = chunk.replace("...", "…")
    chunk = _APOSTROPHE.sub("’", chunk)
    chunk = _STRAIGHT_QUOTES.sub(r"«\1»", chunk)
    chunk = _SPACED_HIGH.sub(NNBSP, chunk)
    chunk = _GLUED_HIGH.sub(NNBSP + r"\1", chunk)
    chunk = _GLUED_COLON.sub(NNBSP + ":", chunk)
    chunk = _OPEN_QUOTE.sub("«" + NNBSP, chunk)
    return _CLOSE_QUOTE.sub(NNBSP + "»", chunk)


# --- Counting --------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]")


def word_count(text: str) -> int:
    """Words in ``text``: whitespace-separated tokens holding a letter or a digit."""
    return sum(1 for token in text.split() if _WORD.search(token))


def reading_minutes(words: int) -> int:
    """Minutes to read ``words`` words at about 230 a minute, rounded, at least 1."""
    return max(1, (words + WORDS_PER_MINUTE // 2) // WORDS_PER_MINUTE)
