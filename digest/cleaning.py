"""Text noise removal shared by every source: no UI label or byline ever reaches an Article.

Sites leave their interface in saved or syndicated text: "Lecture Zen", "Résumer l'article",
"Partager", "À lire aussi : …" links, "Publié le … à …h…" bylines. ``remove_noise`` drops
those lines, strips the labels where they sit inside a line, collapses whitespace and splits
paragraphs that an earlier extraction glued together ("fin.Début"). ``html_to_paragraphs``
turns feed or Markdown HTML into such paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

# Labels that never occur in prose, so they are removed wherever they sit in a line.
_EMBEDDED_LABELS = re.compile(r"\s*\b(?:Lecture Zen|Résumer l['’]article)\b\s*")

# A share button's label is short and never a sentence, unlike "Partager sur les réseaux est…".
_SHARE_LINE = re.compile(
    r"^(?!.{61})(?!.*[.!?]$)partager(?:\s*:)?(?:\s+(?:l['’]article|cet article|sur|par|via"
    r"|le lien|facebook|twitter|x|linkedin|whatsapp|e-?mail|mail)\b.*)?$",
    re.IGNORECASE,
)
_SEE_ALSO_LINE = re.compile(r"^(?:[àa]\s+)?(?:lire|voir)\s+(?:aussi|également)\b", re.IGNORECASE)
# "AFP, publié le dimanche 27 septembre 2020 à 17h56, mis à jour le 28/09/2020": a line that
# is only a byline stamp. A sentence that merely starts with "Publié le 3 mars, ..." is kept.
_DAY_NAME = r"(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+)?"
_DATE = (
    rf"(?:{_DAY_NAME}\d{{1,2}}(?:er)?\s+[^\W\d_]+(?:\s+\d{{4}})?"
    r"|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{4}-\d{2}-\d{2})"
)
_TIME = r"(?:\s*(?:à|,|-)?\s*\d{1,2}\s?[h:]\s?\d{0,2}(?:\s?min)?)?"
_STAMP = rf"(?:publié|mis à jour|modifié|actualisé)\s+(?:le\s+{_DATE}|aujourd['’]hui|hier){_TIME}"
_BYLINE_LINE = re.compile(
    rf"^(?:(?:par\s+)?[^.!?]{{1,80}}?\s*[,|–—-]\s*)?{_STAMP}(?:\s*[,|–—-]?\s*(?:et\s+)?{_STAMP})*"
    r"\s*\.?$",
    re.IGNORECASE,
)
# The footer WordPress appends to every syndicated post, in French or English.
_SYNDICATION_FOOTER = re.compile(
    r"^(?:l['’]article|the post)\s.+\s(?:est apparu en premier sur|appeared first on)\s.+$",
    re.IGNORECASE,
)
_LABEL_LINES = (_SHARE_LINE, _SEE_ALSO_LINE, _BYLINE_LINE, _SYNDICATION_FOOTER)
_MAX_LABEL_LINE = 300

# A paragraph glued to the next one: two lowercase letters (or a lowercase letter and a closing
# quote/parenthesis, or a year) then a full stop directly followed by a capitalised word.
_GLUED = re.compile(
    r"(?:[a-zà-öø-ÿœ]{2}|[a-zà-öø-ÿœ0-9][\"»)”]|\d{2})\.(?=[A-ZÀ-ÖØ-ÝŒ](?:[a-zà-öø-ÿœ]|['’]))"
)
_URLISH = re.compile(r"://|www\.|@|/")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_SPACE_RUN = re.compile(r"\s+")
_NO_BREAK = frozenset("\u00a0\u202f")

_HEADING_MAX_CHARS = 120
_HEADING_MAX_WORDS = 16
_FINAL_PUNCTUATION = ".!?…:;,"


def remove_noise(paragraphs: Iterable[str]) -> list[str]:
    """Drop UI labels and bylines, collapse whitespace, split glued paragraphs."""
    kept: list[str] = []
    for paragraph in paragraphs:
        lines = (_collapse(_EMBEDDED_LABELS.sub(" ", line)) for line in paragraph.splitlines())
        text = " ".join(line for line in lines if line and not is_label_line(line))
        if text:
            kept.extend(split_glued(text))
    return kept


def clean_text(text: str) -> str:
    """Clean a text of blank-line separated paragraphs; paragraphs stay separated by one."""
    return "\n\n".join(remove_noise(split_paragraphs(text)))


def clean_line(text: str) -> str:
    """Clean a one-line value (a title, an author): labels removed, whitespace collapsed."""
    return _collapse(_EMBEDDED_LABELS.sub(" ", text))


def clean_title(text: str) -> str:
    """A title as one clean line; markup in it ("<b>", "<script>…</script>") becomes text."""
    if _TAG.search(text):
        return clean_line(" ".join(html_to_paragraphs(text)))
    return clean_line(text)


def split_paragraphs(text: str) -> list[str]:
    """Split a text at blank lines; each paragraph keeps its inner line breaks."""
    blocks = re.split(r"\n[ \t\u00a0]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [block.strip() for block in blocks if block.strip()]


def is_label_line(line: str) -> bool:
    """True when a whole line is a site's UI label or byline rather than article text."""
    line = line.strip()
    if not line:
        return False
    if _EMBEDDED_LABELS.sub("", line) == "":
        return True
    return len(line) <= _MAX_LABEL_LINE and any(p.match(line) for p in _LABEL_LINES)


def looks_like_heading(line: str) -> bool:
    """True for a short line without final punctuation: a subheading, not a sentence."""
    line = line.strip().rstrip("\"»”')")
    return (
        0 < len(line) <= _HEADING_MAX_CHARS
        and len(line.split()) <= _HEADING_MAX_WORDS
        and line[-1] not in _FINAL_PUNCTUATION
        and line[0].isupper()
    )


def split_glued(paragraph: str) -> list[str]:
    """Split ``fin.Début`` joins into paragraphs, except inside URLs and addresses."""
    parts: list[str] = []
    start = 0
    for match in _GLUED.finditer(paragraph):
        cut = match.end()
        if _URLISH.search(_token_around(paragraph, cut)):
            continue
        parts.append(paragraph[start:cut].strip())
        start = cut
    parts.append(paragraph[start:].strip())
    return [part for part in parts if part]


def html_to_paragraphs(html: str) -> list[str]:
    """Turn an HTML fragment into clean text paragraphs (no scripts, styles or captions)."""
    parser = _ParagraphParser()
    parser.feed(html)
    parser.close()
    return remove_noise(parser.paragraphs())


def _token_around(text: str, index: int) -> str:
    left = text.rfind(" ", 0, index) + 1
    right = text.find(" ", index)
    return text[left : right if right != -1 else len(text)]


def _collapse(text: str) -> str:
    # A run made only of no-break spaces keeps one: French typography puts them before ":;!?".
    text = _INVISIBLE.sub("", text)
    return _SPACE_RUN.sub(_one_space, text).strip()


def _one_space(match: re.Match[str]) -> str:
    run = match.group(0)
    return run[0] if set(run) <= _NO_BREAK else " "


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BLOCK_TAGS = _names(
    "address article aside blockquote br dd div dl dt figure footer h1 h2 h3 h4 h5 h6 header "
    "hr li main ol p pre section table tbody td th thead tr ul"
)
# Content of these elements is never article text; captions repeat the picture, not the story.
_SKIPPED_TAGS = _names(
    "audio button canvas figcaption form head iframe nav noscript object script select style "
    "svg template textarea video"
)
_VOID_TAGS = _names("area base br col embed hr img input link meta source track wbr")


class _ParagraphParser(HTMLParser):
    """Collects text, starting a new paragraph at each block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._blocks: list[list[str]] = [[]]
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            if tag not in _VOID_TAGS:
                self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self._blocks.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._blocks.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._blocks.append([])

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0:
            self._blocks[-1].append(data)

    def paragraphs(self) -> list[str]:
        texts = (_collapse("".join(block)) for block in self._blocks)
        return [text for text in texts if text]
