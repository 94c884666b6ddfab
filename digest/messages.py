"""RenderedIssue + Subscriber -> the MIME bytes sent over SMTP.

The two bodies are quoted-printable encoded once per issue, cut at the slot markers;
per subscriber only the slot values are encoded and spliced in (a few microseconds
instead of milliseconds for a full ``EmailMessage`` serialisation). Every piece starts
and ends at a line boundary, so the pieces are dot-stuffed for SMTP once too: the result
is an `SmtpData` that the send path writes as it is, without scanning its 75 KB again.
"""

from __future__ import annotations

import base64
import email.charset
import email.errors
import email.header
import email.policy
import email.utils
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from functools import lru_cache

from digest.config import NewsletterSettings
from digest.errors import MessageError
from digest.models import PersonalSlots, RenderedIssue, Subscriber
from digest.rendering import SLOT_PATTERN, slot_values
from digest.smtpwire import SmtpData
from digest.tokens import PREFERENCES, UNSUBSCRIBE, sign_token

# Address and subject headers fold at 78 columns so that RFC 2047 encoded words stay
# within their 75-character limit (RFC 2047 section 2).
_POLICY = email.policy.SMTP
# List-Unsubscribe must stay plain ASCII: with 78-column folding the email package turns
# a long <mailto:...> into an RFC 2047 word that no provider reads (RFC 2369 section 2).
# 998 octets is the hard line limit of RFC 5322 section 2.1.1.
_LIST_POLICY = email.policy.SMTP.clone(max_line_length=998)
_CRLF = b"\r\n"
_SOFT_BREAK = b"=\r\n"  # RFC 2045 section 6.7, rule 5
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP
# C0 controls and DEL: a CR or LF in a header value would start a new header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_FORBIDDEN = re.compile(r"[\s<>,\x00-\x1f\x7f]")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")
_PHRASE_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_SIMPLE_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})*")
_SIMPLE_PHRASE = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)*")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII without <, >
_LINE_LENGTH = 78  # RFC 5322 section 2.1.1
_LONGEST_LINE = 998  # RFC 5322 section 2.1.1, without the CRLF
# Text quoted-printable leaves as it is (RFC 2045 section 6.7): printable ASCII but "=",
# not ending with a space; one line (no CR or LF).
_QP_AS_IS = re.compile(r"[ -<>-~]*[!-<>-~]")


def make_message_id(issue_key: str, email: str, domain: str) -> str:
    """A Message-ID fixed by issue and subscriber, with no address in clear (RFC 5322 3.6.4)."""
    if not _HOSTNAME.fullmatch(domain):
        raise MessageError(f"Message-ID domain {domain!r} is not a host name")
    local = re.sub(r"[^A-Za-z0-9-]+", ".", issue_key).strip(".") or "issue"
    digest = hashlib.sha256(f"{issue_key}\n{email.strip().lower()}".encode()).hexdigest()
    return f"<{digest[:32]}.{local}@{domain}>"


def personal_slots(
    subscriber: Subscriber, *, secret: bytes, newsletter: NewsletterSettings
) -> PersonalSlots:
    """The subscriber's signed links (unsubscribe page and mailto, preferences) and name."""
    token = sign_token(secret, UNSUBSCRIBE, subscriber.email)
    preferences = sign_token(secret, PREFERENCES, subscriber.email)
    return PersonalSlots(
        unsubscribe_url=f"{newsletter.web_base_url}/desinscription/{token}",
        unsubscribe_mailto=f"mailto:{newsletter.unsubscribe_mailto}?subject=unsubscribe-{token}",
        name=subscriber.name,
        preferences_url=f"{newsletter.web_base_url}/preferences/{preferences}",
    )


def build_message(
    rendered: RenderedIssue,
    subscriber: Subscriber,
    slots: PersonalSlots,
    *,
    newsletter: NewsletterSettings,
    message_id: str,
    date: datetime,
    feedback_id: str = "",
) -> SmtpData:
    """The complete message for one subscriber, CRLF line endings, as sent over SMTP.

    CRLF is the only line ending in it (header values with a CR or LF are refused, bodies
    are re-encoded), and it ends with CRLF; with its dot-stuffed copy when a line starts
    with a dot (RFC 5321 section 4.5.2), that is what `SmtpData` vouches for.
    """
    if not _MESSAGE_ID.fullmatch(message_id):
        raise MessageError(f"Message-ID {message_id!r} is not of the form <left@right>")
    # "=_" cannot occur in quoted-printable text, so the boundary never collides with a
    # body (RFC 2045 section 6.7, RFC 2046 section 5.1.1).
    boundary = "=_digest_" + hashlib.sha256(message_id.encode()).hexdigest()[:20]
    sender, list_headers = _sender_headers(newsletter)
    delimiter = b"--" + boundary.encode("ascii")
    text, stuffed_text = _encoded_body(rendered.text, slots, html=False)
    html, stuffed_html = _encoded_body(rendered.html, slots, html=True)
    head = (
        _date_header(date.replace(microsecond=0), date.utcoffset()),
        sender,
        _recipient_header(subscriber),
        # Spaces around a header value do not survive a reading (RFC 5322 section 3.2.2).
        _subject_header(rendered.subject.strip(" \t")),
        _ascii_header("Message-ID", message_id),
        _feedback_header(feedback_id),
        list_headers,
        *_unsubscribe_headers(slots),
        _ascii_header("MIME-Version", "1.0"),
        _ascii_header("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        _CRLF,
    )
    # Header lines start with a name or, folded, with a space; MIME lines with "--" or a
    # name: only body lines may start with a dot.
    message = b"".join((*head, *_parts(delimiter, text, html)))
    if stuffed_text is None and stuffed_html is None:
        return SmtpData(message, None)
    stuffed_parts = _parts(
        delimiter,
        text if stuffed_text is None else stuffed_text,
        html if stuffed_html is None else stuffed_html,
    )
    return SmtpData(message, b"".join((*head, *stuffed_parts)))


def _parts(delimiter: bytes, text: bytes, html: bytes) -> Sequence[bytes]:
    return (
        *_part(delimiter, "text/plain", text),
        *_part(delimiter, "text/html", html),
        delimiter,
        b"--",
        _CRLF,
    )


@lru_cache(maxsize=4)
def _date_header(date: datetime, offset: timedelta | None) -> bytes:
    """Date, for a time without microseconds (the header has none): the same all second.

    ``offset`` is in the key because times of different zones compare (and hash) equal
    when they are the same instant, yet are written with their own offsets.
    """
    return _ascii_header("Date", email.utils.format_datetime(date))


@lru_cache(maxsize=8)
def _sender_headers(newsletter: NewsletterSettings) -> tuple[bytes, bytes]:
    """From, then Reply-To and List-Id: the same for every message of a newsletter."""
    sender = _address("From", newsletter.from_name or newsletter.name, newsletter.from_address)
    lines = []
    if newsletter.reply_to:
        lines.append(_header("Reply-To", _address("Reply-To", "", newsletter.reply_to)))
    lines.append(_header("List-Id", _list_id(newsletter.name, sender.domain)))
    return _address_header("From", sender), b"".join(lines)


@lru_cache(maxsize=8)
def _subject_header(subject: str) -> bytes:
    _refuse_controls("Subject", subject)
    # Text that looks like an encoded word is itself encoded, or readers would decode it.
    plain = subject.isascii() and "=?" not in subject
    if plain and len(subject) + len("Subject: ") <= _LINE_LENGTH:
        return f"Subject: {subject}\r\n".encode("ascii")
    return encoded_words_header("Subject", subject)


# RFC 2047 section 2: an encoded-word is at most 75 characters, and RFC 5322 wants lines of
# at most 78: 39 bytes of UTF-8 make 52 base64 characters, a 64-character word that fits
# even after "Subject: " on the first line.
_WORD_BYTES = 39


def encoded_words_header(name: str, value: str) -> bytes:
    """An unstructured header as RFC 2047 B-encoded words of at most 75 characters.

    The standard library can fold one word past 75 characters; here each word holds whole
    characters (never a split UTF-8 sequence) and goes on its own folded line.
    """
    words: list[str] = []
    chunk = ""
    for char in value:
        if len((chunk + char).encode("utf-8")) > _WORD_BYTES:
            words.append(chunk)
            chunk = ""
        chunk += char
    if chunk:
        words.append(chunk)
    encoded = [
        "=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?="
        for word in words
    ]
    return (f"{name}: " + "\r\n ".join(encoded) + "\r\n").encode("ascii")


def _recipient_header(subscriber: Subscriber) -> bytes:
    """To; the common case (plain address, plain or no name) skips the header parser."""
    name, addr = subscriber.name, subscriber.email
    simple_name = not name or (_SIMPLE_PHRASE.fullmatch(name) and "=?" not in name)
    if _SIMPLE_ADDRESS.fullmatch(addr) and simple_name:
        line = f"To: {name} <{addr}>\r\n" if name else f"To: {addr}\r\n"
        if len(line) <= _LINE_LENGTH:
            return line.encode("ascii")
    return _address_header("To", _address("To", name, addr))


def _address_header(role: str, address: Address) -> bytes:
    """An address header whose name reads back, by RFC 2047, exactly as given."""
    name = address.display_name
    # The email package would decode "=?utf-8?b?...?=" in a name into other text, and it
    # may put a space of the name between two encoded words, where readers drop it.
    if "=?" not in name:
        line = _header(role, address)
        if name.isascii() or _read_name(line) == name:
            return line
    words = encoded_words_header(role, name).removesuffix(_CRLF)
    return words + f"\r\n <{address.addr_spec}>\r\n".encode("ascii")


def _read_name(line: bytes) -> str:
    """The display name of an address header line as RFC 2047 section 6.2 reads it."""
    value = line.decode("ascii").replace("\r\n", "").partition(": ")[2]
    phrase = value.rpartition(" <")[0]
    try:
        return str(email.header.make_header(email.header.decode_header(phrase)))
    except (email.errors.HeaderParseError, UnicodeError, LookupError):
        return ""


@lru_cache(maxsize=8)
def _feedback_header(feedback_id: str) -> bytes:
    """Feedback-ID (Gmail's feedback loop): colon-separated ASCII identifiers, optional."""
    if not feedback_id:
        return b""
    if not feedback_id.isascii() or _URL_FORBIDDEN.search(feedback_id):
        raise MessageError(f"Feedback-ID {feedback_id!r} must be ASCII without spaces")
    return _ascii_header("Feedback-ID", feedback_id)


def _ascii_header(name: str, value: str) -> bytes:
    """A header whose value we built ourselves: ASCII, short, nothing to fold or encode."""
    _refuse_controls(name, value)
    return f"{name}: {value}\r\n".encode("ascii")


def _unsubscribe_headers(slots: PersonalSlots) -> tuple[bytes, ...]:
    """List-Unsubscribe (RFC 2369) and, for an https link, one-click (RFC 8058)."""
    for label, url in (
        ("unsubscribe URL", slots.unsubscribe_url),
        ("mailto", slots.unsubscribe_mailto),
    ):
        if not url.isascii() or _URL_FORBIDDEN.search(url):
            raise MessageError(f"{label} {url!r} has spaces, brackets, commas or line breaks")
    value = f"<{slots.unsubscribe_url}>, <{slots.unsubscribe_mailto}>"
    line = f"List-Unsubscribe: {value}\r\n".encode("ascii")
    # That is what the email package writes for an ASCII value without spaces that fits
    # one line and holds nothing it would read as an RFC 2047 word; the rest goes through it.
    if "=?" in value or len(line) > _LONGEST_LINE + len(_CRLF):
        line = _header("List-Unsubscribe", value, _LIST_POLICY)
    # RFC 8058 section 3.1: one-click needs an HTTPS URI in List-Unsubscribe.
    if not slots.unsubscribe_url.startswith("https://"):
        return (line,)
    return (line, _ascii_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))


def _header(
    name: str, value: object, policy: email.policy.EmailPolicy[EmailMessage] = _POLICY
) -> bytes:
    parsed = policy.header_factory(name, value)
    return policy.fold_binary(name, parsed)


def _address(role: str, name: str, addr_spec: str) -> Address:
    _refuse_controls(f"{role} name", name)
    _refuse_controls(f"{role} address", addr_spec)
    try:
        # A phrase's runs of white space read as one space (RFC 5322 section 3.2.2).
        address = Address(display_name=" ".join(name.split()), addr_spec=addr_spec.strip())
    except (ValueError, email.errors.HeaderParseError) as exc:
        raise MessageError(f"{role} address {addr_spec!r} is not valid: {exc}") from exc
    if not address.username or not address.domain:
        raise MessageError(f"{role} address {addr_spec!r} is not valid: no user or domain")
    domain = _ascii_domain(role, addr_spec, address.domain)
    return Address(display_name=address.display_name, username=address.username, domain=domain)


def _ascii_domain(role: str, addr_spec: str, domain: str) -> str:
    """An internationalised domain as its A-label (RFC 5890), so no SMTPUTF8 is needed."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MessageError(f"{role} address {addr_spec!r} has an invalid domain") from exc


def _refuse_controls(what: str, value: str) -> None:
    if _CONTROL.search(value):
        raise MessageError(f"{what} {value!r} contains a line break or control character")


def _list_id(name: str, domain: str) -> str:
    """``Name <label.domain>`` (RFC 2919): the label from the newsletter name, ASCII only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    label = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "lettre"
    phrase = _PHRASE_SPECIALS.sub("", name).strip()
    return f"{phrase} <{label}.{domain}>" if phrase else f"<{label}.{domain}>"


def _part(delimiter: bytes, content_type: str, body: bytes) -> Sequence[bytes]:
    return (
        delimiter,
        _CRLF,
        f'Content-Type: {content_type}; charset="utf-8"'.encode("ascii"),
        _CRLF,
        b"Content-Transfer-Encoding: quoted-printable",
        _CRLF,
        _CRLF,
        body,
    )


def _encoded_body(body: str, slots: PersonalSlots, *, html: bool) -> tuple[bytes, bytes | None]:
    """``body`` with the slots filled, quoted-printable, ending with CRLF; and dot-stuffed.

    The second value is the body with leading dots doubled, or None when no line starts
    with a dot. Each piece starts at a line start (every encoded piece ends with a break),
    so stuffing the pieces one by one stuffs the whole.
    """
    template = _template(body)
    values = slot_values(slots, html=html)
    filled = {marker: _quoted_printable(values.get(marker, "")) for marker in template.markers}
    pieces = list(template.pieces)
    for index, marker in template.slots:
        pieces[index] = filled[marker]
    encoded = _closed(pieces, template.closing)
    dotted = {marker: _stuff(value) for marker, value in filled.items() if _needs_stuffing(value)}
    if template.stuffed is None and not dotted:
        return encoded, None
    pieces = list(template.stuffed or template.pieces)
    for index, marker in template.slots:
        pieces[index] = dotted.get(marker, filled[marker])
    return encoded, _closed(pieces, template.stuffed_closing)


@dataclass(frozen=True, slots=True)
class _Template:
    """A body encoded once: its static pieces, with b"" where each slot's value goes."""

    pieces: tuple[bytes, ...]
    slots: tuple[tuple[int, str], ...]  # (index in pieces, marker)
    markers: frozenset[str]
    # The last static piece as it ends the body (see _close_body), by its index.
    closing: tuple[int, bytes]
    # The pieces and closing piece dot-stuffed, or None when no static line starts with a dot.
    stuffed: tuple[bytes, ...] | None
    stuffed_closing: tuple[int, bytes]


@lru_cache(maxsize=8)
def _template(body: str) -> _Template:
    pieces: list[bytes] = []
    slots: list[tuple[int, str]] = []
    position = 0
    for match in SLOT_PATTERN.finditer(body):
        pieces.append(_quoted_printable(body[position : match.start()]))
        slots.append((len(pieces), match.group(0)))
        pieces.append(b"")
        position = match.end()
    pieces.append(_quoted_printable(body[position:]))
    last = max((i for i, piece in enumerate(pieces) if piece), default=-1)
    closing = (last, _close_body(pieces[last]) if last >= 0 else b"")
    markers = frozenset(marker for _, marker in slots)
    if not any(_needs_stuffing(piece) for piece in pieces):
        return _Template(tuple(pieces), tuple(slots), markers, closing, None, closing)
    stuffed = [_stuff(piece) for piece in pieces]
    stuffed_closing = (last, _close_body(stuffed[last]) if last >= 0 else b"")
    return _Template(tuple(pieces), tuple(slots), markers, closing, tuple(stuffed), stuffed_closing)


def _closed(pieces: list[bytes], closing: tuple[int, bytes]) -> bytes:
    """The pieces joined, ending as `_close_body` says, without copying the body twice."""
    for index in range(len(pieces) - 1, -1, -1):
        if pieces[index]:
            break
    else:
        return _CRLF
    last, closed = closing
    pieces[index] = closed if index == last else _close_body(pieces[index])
    return b"".join(pieces)


def _close_body(encoded: bytes) -> bytes:
    # The CRLF before a boundary belongs to the delimiter (RFC 2046 section 5.1.1): a
    # final soft break becomes that CRLF, a final hard break gets a second one.
    if encoded.endswith(_SOFT_BREAK):
        return encoded[: -len(_SOFT_BREAK)] + _CRLF
    return encoded + _CRLF


def _needs_stuffing(lines: bytes) -> bool:
    """Whether a line of ``lines`` (which starts at a line start) starts with a dot."""
    return lines.startswith(b".") or b"\r\n." in lines


def _stuff(lines: bytes) -> bytes:
    """``lines`` (which start at a line start) with leading dots doubled (RFC 5321 4.5.2)."""
    stuffed = lines.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def _quoted_printable(text: str) -> bytes:
    """``text`` as UTF-8 quoted-printable with CRLF breaks, ending in a soft or hard break."""
    if not text:
        return b""
    if _QP_AS_IS.fullmatch(text):
        # What the email package's encoder gives for such text, without its per-character
        # pass: lines of 75 characters and a soft break, the rest (at most 76) as it is.
        cut = range(0, len(text) - 76, 75)
        lines = [text[start : start + 75] + "=\r\n" for start in cut]
        lines.append(text[len(cut) * 75 :])
        return "".join(lines).encode("ascii") + _SOFT_BREAK
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = (_UTF8_QP.body_encode(text) or "").replace("\n", "\r\n").encode("ascii")
    # A segment that stops mid-line ends with a soft break so that segments can be
    # concatenated in any order and every encoded line stays <= 76 characters.
    return encoded if text.endswith("\n") else encoded + _SOFT_BREAK
