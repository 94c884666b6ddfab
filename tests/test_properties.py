"""Properties over generated input: messages, URL keys, sentences and tokens (hypothesis)."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import html
import re
import string
from email.message import EmailMessage
from urllib.parse import parse_qsl, urlsplit

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from digest.config import NewsletterSettings
from digest.errors import MessageError
from digest.french import _SHORT_FORMS, split_sentences
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import RenderedIssue, Subscriber
from digest.rendering import SLOT_PATTERN
from digest.sources.urls import canonical_url, strip_tracking
from digest.tokens import UNSUBSCRIBE, sign_token, verify_token

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SECRET = b"property-secret-0123456789abcdef"
NEWSLETTER = NewsletterSettings(web_base_url="https://lettre.exemple.fr")
SENT_AT = dt.datetime(2025, 1, 24, 7, 0, tzinfo=dt.UTC)
ZOE = Subscriber("zoe@exemple.fr")
# Any character a person may type: no C0/C1 controls, no surrogates.
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
ANY_TEXT = st.text(PRINTABLE, max_size=300)
LINE_BREAKS = ("\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
EXPECTED_HEADERS = {
    "date",
    "from",
    "to",
    "subject",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
}


def issue(subject: str = "Toujours+ n°1 : la semaine", title: str = "Un titre") -> RenderedIssue:
    """A rendered issue whose two parts carry ``title`` and the subscriber's name slot."""
    return RenderedIssue(
        subject=subject,
        preheader="",
        html=f"<p>%%DIGEST_GREETING%%</p><h3>{html.escape(title)}</h3>"
        '<a href="%%DIGEST_UNSUBSCRIBE_URL%%">Se désinscrire</a>',
        text=f"%%DIGEST_GREETING%%\n\n{title}\n\nSe désinscrire : %%DIGEST_UNSUBSCRIBE_URL%%\n",
        web_html="",
    )


def message(
    rendered: RenderedIssue,
    subscriber: Subscriber = ZOE,
    newsletter: NewsletterSettings = NEWSLETTER,
) -> bytes:
    slots = personal_slots(subscriber, secret=SECRET, newsletter=newsletter)
    return build_message(
        rendered,
        subscriber,
        slots,
        newsletter=newsletter,
        message_id=make_message_id("2025-W04.n1", subscriber.email, "exemple.fr"),
        date=SENT_AT,
    )


def parsed(raw: bytes) -> EmailMessage:
    """The message as a receiver reads it, after checking what any relay requires."""
    assert raw.isascii(), "a message without SMTPUTF8 is 7-bit"
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 998  # RFC 5322 section 2.1.1
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = {line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in " \t"}
    assert names <= EXPECTED_HEADERS, f"unexpected header lines {names - EXPECTED_HEADERS}"
    result = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(result, EmailMessage)
    assert not result.defects
    return result


def raw_header(raw: bytes, name: str) -> str:
    """The header's value unfolded, as it is on the wire."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    (line,) = [line for line in head.split("\r\n") if line.startswith(f"{name}: ")]
    return line.removeprefix(f"{name}: ")


def display_name(value: str, parsed_name: str) -> str:
    """The display name as RFC 2047 section 6.2 reads it.

    Python's parser keeps the space between two encoded words of a phrase, which the RFC
    (and mail clients) ignore; where the name was encoded, decode it by the RFC instead.
    """
    if "=?" not in value:
        return parsed_name
    phrase = value.rpartition(" <")[0]
    return str(email.header.make_header(email.header.decode_header(phrase)))


def text_body(result: EmailMessage) -> str:
    part = result.get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


@BOUNDED
@given(subject=ANY_TEXT.filter(lambda s: s.strip()))
@example(subject="Bcc: x@y.org")
@example(subject="=?utf-8?q?Pirat=C3=A9?=")
@example(subject="É" * 400)
@example(subject="x" * 2000)
@example(subject=" 0 ")
def test_any_subject_parses_back_unchanged(subject: str) -> None:
    assume(not any(mark in subject for mark in LINE_BREAKS))
    result = parsed(message(issue(subject=subject)))
    assert str(result["Subject"]) == subject.strip(" \t")


@BOUNDED
@given(before=ANY_TEXT, mark=st.sampled_from(["\r", "\n", "\r\n", "\x00"]), after=ANY_TEXT)
def test_a_subject_with_a_line_break_is_refused(before: str, mark: str, after: str) -> None:
    subject = before + mark + after
    try:
        message(issue(subject=subject))
    except MessageError as exc:
        assert "\n" not in str(exc)
    else:
        raise AssertionError("a subject with a line break was accepted")


@BOUNDED
@given(name=ANY_TEXT)
@example(name="=?utf-8?b?QWRtaW4=?=")
@example(name='Léa "la" <Nguyen>, Bcc: x@y.org')
@example(name="a" * 500)
@example(name="=?utf-8?q?Admin?= =?utf-8?q?Service?=")
def test_any_name_parses_back_unchanged(name: str) -> None:
    assume(not any(mark in name for mark in LINE_BREAKS))
    raw = message(issue(), Subscriber("zoe@exemple.fr", name))
    result = parsed(raw)
    (address,) = result["To"].addresses
    assert address.addr_spec == "zoe@exemple.fr"
    assert display_name(raw_header(raw, "To"), address.display_name) == " ".join(name.split())


@BOUNDED
@given(title=ANY_TEXT)
@example(title="<script>alert(1)</script>")
@example(title="%%DIGEST_NAME%% . \r\n.\r\n.")
def test_any_title_comes_back_in_both_parts(title: str) -> None:
    # Rendering removes slot markers from article text (test_rendering); none arrive here.
    title = " ".join(SLOT_PATTERN.sub("", title).split())
    result = parsed(message(issue(title=title)))
    assert f"\n{title}\n" in text_body(result).replace("\r\n", "\n")
    part = result.get_body(("html",))
    assert part is not None
    assert f"<h3>{html.escape(title)}</h3>" in part.get_content()


URL_TEXT = st.text(PRINTABLE, min_size=1, max_size=120)


@BOUNDED
@given(path=URL_TEXT)
@example(path="a>, <https://evil.example/")
@example(path="a\r\nBcc: x@y.org")
@example(path="é" * 600)
def test_any_base_url_gives_a_valid_list_unsubscribe_or_a_clear_refusal(path: str) -> None:
    newsletter = NewsletterSettings(web_base_url=f"https://lettre.exemple.fr/{path}")
    try:
        raw = message(issue(), newsletter=newsletter)
    except MessageError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)
        return
    result = parsed(raw)
    links = re.findall(r"<([^<>]+)>", str(result["List-Unsubscribe"]))
    slots = personal_slots(Subscriber("zoe@exemple.fr"), secret=SECRET, newsletter=newsletter)
    assert links == [slots.unsubscribe_url, slots.unsubscribe_mailto]


# --- URL canonicalisation -----------------------------------------------------------------

URL_CHARS = string.ascii_letters + string.digits + "-._~%/?&=#:@+é"
HOSTS = st.sampled_from(["exemple.fr", "EXEMPLE.fr", "www.exemple.fr", "exemple.fr:8080"])
TRACKERS = ("fbclid", "xtor")
QUERY_KEYS = st.sampled_from(["id", "page", "utm_source", "fbclid", "xtor", "at_medium", "q"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    path = draw(st.text(string.ascii_letters + string.digits + "-_/é%", max_size=30))
    pairs = draw(st.lists(st.tuples(QUERY_KEYS, st.text(string.ascii_letters, max_size=6))))
    query = "&".join(f"{key}={value}" for key, value in pairs)
    fragment = draw(st.text(string.ascii_letters, max_size=5))
    url = f"{scheme}://{draw(HOSTS)}/{path}"
    return url + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


@BOUNDED
@given(url=st.one_of(urls(), st.text(URL_CHARS, max_size=60)))
@example(url="http://[::1")
@example(url="https://exemple.fr:99999/")
@example(url="?")
@example(url="#haut")
def test_canonical_keys_are_stable_and_ignore_tracking(url: str) -> None:
    key = canonical_url(url)
    assert canonical_url(key) == key
    assert canonical_url(strip_tracking(url)) == key
    assert strip_tracking(strip_tracking(url)) == strip_tracking(url)
    for link in (key, strip_tracking(url)):
        try:
            names = [name.lower() for name, _ in parse_qsl(urlsplit(link).query)]
        except ValueError:  # a malformed URL is kept as given
            continue
        assert not [n for n in names if n.startswith(("utm_", "at_")) or n in TRACKERS]


@BOUNDED
@given(url=urls())
def test_scheme_host_case_fragment_and_trailing_slash_do_not_change_the_key(url: str) -> None:
    key = canonical_url(url)
    other = re.sub(r"^https?", "http", url, flags=re.IGNORECASE)
    other = re.sub(r"(?<=://)([^/]+)", lambda m: m.group(1).upper(), other)
    assert canonical_url(other) == key
    assert canonical_url(url.split("#", 1)[0]) == key
    assert "#" not in key and "utm_" not in key.partition("?")[2]


# --- Sentence splitting -------------------------------------------------------------------

WORD = st.text("abcdefghijklmnopqrstuvwxyzéèàçœ", min_size=2, max_size=9)


@st.composite
def sentences(draw: st.DrawFn) -> str:
    # A last word that is an abbreviation ("op.", "cf.") rightly does not end a sentence.
    words = draw(st.lists(WORD, min_size=1, max_size=8).filter(lambda w: w[-1] not in _SHORT_FORMS))
    first = draw(st.sampled_from(["Le", "Une", "Élise", "Quatre", "Paris"]))
    end = draw(st.sampled_from([".", "!", "?", "…", " ?", "\u202f!", " !"]))
    return " ".join([first, *words]) + end


@BOUNDED
@given(parts=st.lists(sentences(), min_size=1, max_size=8))
def test_joined_sentences_split_back(parts: list[str]) -> None:
    assert split_sentences(" ".join(parts)) == parts
    assert split_sentences("\n\n".join(parts)) == parts


@BOUNDED
@given(text=st.text(max_size=400))
@example(text='fin."Début. (…) Suite.')
@example(text="M. Dupont. Av. J.-C. A")
def test_splitting_keeps_every_character_in_order(text: str) -> None:
    found = split_sentences(text)
    assert all(sentence and sentence == sentence.strip() for sentence in found)
    assert "".join("".join(found).split()) == "".join(text.split())


# --- Token signing ------------------------------------------------------------------------

PURPOSES = st.sampled_from([UNSUBSCRIBE, "preferences", "confirm"])


@BOUNDED
@given(value=st.text(max_size=120), purpose=PURPOSES)
def test_a_signed_value_always_verifies(value: str, purpose: str) -> None:
    token = sign_token(SECRET, purpose, value)
    assert re.fullmatch(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+", token)
    assert verify_token(SECRET, purpose, token) == value


@BOUNDED
@given(
    value=st.emails(),
    position=st.integers(min_value=0),
    replacement=st.sampled_from(list(string.ascii_letters + string.digits + "-_.=+/ ")),
)
def test_any_change_to_a_token_is_refused(value: str, position: int, replacement: str) -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, value)
    index = position % len(token)
    altered = token[:index] + replacement + token[index + 1 :]
    assume(altered != token)
    assert verify_token(SECRET, UNSUBSCRIBE, altered) is None
    assert verify_token(SECRET, UNSUBSCRIBE, token[:index] + token[index + 1 :]) is None
    assert verify_token(SECRET, "preferences", token) is None
