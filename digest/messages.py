"""RenderedIssue + Subscriber -> the MIME bytes sent over SMTP.

The two bodies are quoted-printable encoded once per issue, cut at the slot markers;
per subscriber only the slot values are encoded and spliced in (a few microseconds
instead of milliseconds for a full ``EmailMessage`` serialisation).
"""

from __future__ import annotations

import base64
import email.charset
import email.errors
import email.policy
import email.utils
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from functools import lru_cache

from digest.config import NewsletterSettings
from digest.errors import MessageError
from digest.models import PersonalSlots, RenderedIssue, Subscriber
from digest.rendering import SLOT_PATTERN, slot_values
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
) -> bytes:
    """The complete message for one subscriber, CRLF line endings, as sent over SMTP."""
    if not _MESSAGE_ID.fullmatch(message_id):
        raise MessageError(f"Message-ID {message_id!r} is not of the form <left@right>")
    # "=_" cannot occur in quoted-printable text, so the boundary never collides with a
    # body (RFC 2045 section 6.7, RFC 2046 section 5.1.1).
    boundary = "=_digest_" + hashlib.sha256(message_id.encode()).hexdigest()[:20]
    sender, list_headers = _sender_headers(newsletter)
    delimiter = b"--" + boundary.encode("ascii")
    return b"".join(
        (
            _ascii_header("Date", email.utils.format_datetime(date)),
            sender,
            _recipient_header(subscriber),
            _subject_header(rendered.subject),
            _ascii_header("Message-ID", message_id),
            _feedback_header(feedback_id),
            list_headers,
            *_unsubscribe_headers(slots),
            _ascii_header("MIME-Version", "1.0"),
            _ascii_header("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            _CRLF,
            *_part(delimiter, "text/plain", _encoded_body(rendered.text, slots, html=False)),
            *_part(delimiter, "text/html", _encoded_body(rendered.html, slots, html=True)),
            delimiter,
            b"--",
            _CRLF,
        )
    )


@lru_cache(maxsize=8)
def _sender_headers(newsletter: NewsletterSettings) -> tuple[bytes, bytes]:
    """From, then Reply-To and List-Id: the same for every message of a newsletter."""
    sender = _address("From", newsletter.from_name or newsletter.name, newsletter.from_address)
    lines = []
    if newsletter.reply_to:
        lines.append(_header("Reply-To", _address("Reply-To", "", newsletter.reply_to)))
    lines.append(_header("List-Id", _list_id(newsletter.name, sender.domain)))
    return _header("From", sender), b"".join(lines)


@lru_cache(maxsize=8)
def _subject_header(subject: str) -> bytes:
    _refuse_controls("Subject", subject)
    if subject.isascii() and len(subject) + len("Subject: ") <= _LINE_LENGTH:
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
    if _SIMPLE_ADDRESS.fullmatch(addr) and (not name or _SIMPLE_PHRASE.fullmatch(name)):
        line = f"To: {name} <{addr}>\r\n" if name else f"To: {addr}\r\n"
        if len(line) <= _LINE_LENGTH:
            return line.encode("ascii")
    return _header("To", _address("To", name, addr))


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
        address = Address(display_name=name.strip(), addr_spec=addr_spec.strip())
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


def _encoded_body(body: str, slots: PersonalSlots, *, html: bool) -> bytes:
    """``body`` with the slots filled, quoted-printable, ending with CRLF."""
    values = slot_values(slots, html=html)
    pieces = [
        piece if isinstance(piece, bytes) else _quoted_printable(values.get(piece, ""))
        for piece in _encoded_segments(body)
    ]
    encoded = b"".join(pieces)
    # The CRLF before a boundary belongs to the delimiter (RFC 2046 section 5.1.1): a
    # final soft break becomes that CRLF, a final hard break gets a second one.
    if encoded.endswith(_SOFT_BREAK):
        return encoded[: -len(_SOFT_BREAK)] + _CRLF
    return encoded + _CRLF


@lru_cache(maxsize=8)
def _encoded_segments(body: str) -> tuple[bytes | str, ...]:
    """The static text between markers encoded once; markers kept as str."""
    pieces: list[bytes | str] = []
    position = 0
    for match in SLOT_PATTERN.finditer(body):
        pieces.append(_quoted_printable(body[position : match.start()]))
        pieces.append(match.group(0))
        position = match.end()
    pieces.append(_quoted_printable(body[position:]))
    return tuple(piece for piece in pieces if piece)


def _quoted_printable(text: str) -> bytes:
    """``text`` as UTF-8 quoted-printable with CRLF breaks, ending in a soft or hard break."""
    if not text:
        return b""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = (_UTF8_QP.body_encode(text) or "").replace("\n", "\r\n").encode("ascii")
    # A segment that stops mid-line ends with a soft break so that segments can be
    # concatenated in any order and every encoded line stays <= 76 characters.
    return encoded if text.endswith("\n") else encoded + _SOFT_BREAK
