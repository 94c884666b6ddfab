"""Per-subscriber MIME messages: raw bytes as sent over SMTP, parsed back."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import re
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.config import NewsletterSettings, TemplateSettings
from digest.errors import MessageError
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import PersonalSlots, RenderedIssue, Subscriber
from digest.rendering import Renderer, fill_slots
from digest.tokens import UNSUBSCRIBE, verify_token
from tests.test_rendering import DATE_LABEL, LONG_URL, make_issue

SECRET = b"test-secret-0123456789abcdef"
NEWSLETTER = NewsletterSettings(
    from_name="La Rédaction de Toujours+", reply_to="courrier@exemple.fr"
)
SENT_AT = dt.datetime(2025, 1, 24, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
ZOE = Subscriber("zoe@exemple.fr", "Zoé Lefèvre", id=1)
JEAN = Subscriber("jean.martin@exemple.org", id=2)


@pytest.fixture(scope="module")
def rendered() -> RenderedIssue:
    renderer = Renderer(TemplateSettings(), NEWSLETTER)
    return renderer.render(make_issue(), date_label=DATE_LABEL)


def message_for(
    rendered: RenderedIssue,
    subscriber: Subscriber,
    newsletter: NewsletterSettings = NEWSLETTER,
) -> tuple[bytes, PersonalSlots]:
    slots = personal_slots(subscriber, secret=SECRET, newsletter=newsletter)
    message_id = make_message_id("2025-W04.n12", subscriber.email, "exemple.fr")
    raw = build_message(
        rendered, subscriber, slots, newsletter=newsletter, message_id=message_id, date=SENT_AT
    )
    return raw, slots


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def raw_header(raw: bytes, name: str) -> bytes:
    head = raw.split(b"\r\n\r\n", 1)[0]
    (line,) = [line for line in head.split(b"\r\n") if line.startswith(name.encode() + b":")]
    return line


def body_text(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_both_parts_decode_to_the_filled_content(rendered: RenderedIssue) -> None:
    raw, slots = message_for(rendered, ZOE)
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert body_text(message, "plain") == fill_slots(rendered.text, slots, html=False)
    assert body_text(message, "html") == fill_slots(rendered.html, slots, html=True)
    assert "Bonjour Zoé Lefèvre," in body_text(message, "plain")
    assert LONG_URL in [line.strip() for line in body_text(message, "plain").splitlines()]


def test_parts_are_utf8_quoted_printable(rendered: RenderedIssue) -> None:
    message = parse(message_for(rendered, ZOE)[0])
    for part in message.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert not message.defects
    assert all(not part.defects for part in message.iter_parts())


def test_lines_are_crlf_and_short(rendered: RenderedIssue) -> None:
    raw = message_for(rendered, ZOE)[0]
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76, "RFC 2045 6.7 rule 5"
    assert raw.endswith(b"--\r\n")


def test_list_unsubscribe_is_plain_ascii_with_both_links(rendered: RenderedIssue) -> None:
    raw, slots = message_for(rendered, ZOE)
    line = raw_header(raw, "List-Unsubscribe")
    assert line.startswith(b"List-Unsubscribe: <https://")
    assert b"=?" not in line
    assert line == (
        f"List-Unsubscribe: <{slots.unsubscribe_url}>, <{slots.unsubscribe_mailto}>".encode()
    )
    assert raw_header(raw, "List-Unsubscribe-Post") == (
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    )


def test_unsubscribe_links_carry_a_token_of_the_address() -> None:
    slots = personal_slots(ZOE, secret=SECRET, newsletter=NEWSLETTER)
    prefix = "https://lettre.exemple.fr/desinscription/"
    assert slots.unsubscribe_url.startswith(prefix)
    token = slots.unsubscribe_url.removeprefix(prefix)
    assert verify_token(SECRET, UNSUBSCRIBE, token) == ZOE.email
    assert slots.unsubscribe_mailto == (
        f"mailto:desinscription@exemple.fr?subject=unsubscribe-{token}"
    )
    assert slots.name == "Zoé Lefèvre"


def test_headers_parse_back(rendered: RenderedIssue) -> None:
    raw = message_for(rendered, ZOE)[0]
    message = parse(raw)
    assert message["Subject"] == "Toujours+ n°12 : le Louvre se réinvente"
    assert message["From"].addresses[0].display_name == "La Rédaction de Toujours+"
    assert message["From"].addresses[0].addr_spec == "lettre@exemple.fr"
    assert message["To"].addresses[0].display_name == "Zoé Lefèvre"
    assert message["To"].addresses[0].addr_spec == "zoe@exemple.fr"
    assert message["Reply-To"] == "courrier@exemple.fr"
    assert message["Date"] == "Fri, 24 Jan 2025 07:00:00 +0100"
    assert message["MIME-Version"] == "1.0"
    assert message["List-Id"] == "Toujours+ <toujours.exemple.fr>"
    assert b"=?utf-8?" in raw_header(raw, "From"), "RFC 2047 for a non-ASCII display name"
    assert b"=?utf-8?" in raw_header(raw, "Subject")


def test_plain_recipient_and_no_reply_to(rendered: RenderedIssue) -> None:
    raw = message_for(rendered, JEAN, NewsletterSettings())[0]
    message = parse(raw)
    assert raw_header(raw, "To") == b"To: jean.martin@exemple.org"
    assert message["From"] == "Toujours+ <lettre@exemple.fr>"
    assert message["Reply-To"] is None
    assert "Bonjour," in body_text(message, "plain")


def test_two_subscribers_get_their_own_links_and_ids(rendered: RenderedIssue) -> None:
    zoe, jean = parse(message_for(rendered, ZOE)[0]), parse(message_for(rendered, JEAN)[0])
    assert zoe["Message-ID"] != jean["Message-ID"]
    assert zoe["List-Unsubscribe"] != jean["List-Unsubscribe"]
    zoe_links = re.findall(r"https://\S+/desinscription/[\w.-]+", body_text(zoe, "plain"))
    jean_links = re.findall(r"https://\S+/desinscription/[\w.-]+", body_text(jean, "plain"))
    assert len(zoe_links) == len(jean_links) == 1
    assert zoe_links != jean_links
    assert zoe_links[0] in body_text(zoe, "html")


def test_same_inputs_give_the_same_bytes(rendered: RenderedIssue) -> None:
    first, second = message_for(rendered, ZOE)[0], message_for(rendered, ZOE)[0]
    assert first == second
    boundary = parse(first).get_boundary()
    assert boundary is not None and boundary.startswith("=_")


def test_message_id_is_stable_and_hides_the_address() -> None:
    first = make_message_id("2025-W04.n12", "Zoe@Exemple.fr", "exemple.fr")
    assert first == make_message_id("2025-W04.n12", "zoe@exemple.fr", "exemple.fr")
    assert first != make_message_id("2025-W05.n13", "zoe@exemple.fr", "exemple.fr")
    assert re.fullmatch(r"<[0-9a-f]{32}\.2025-W04\.n12@exemple\.fr>", first)
    assert "zoe" not in first.lower()
    parsed = email.utils.parseaddr(first)
    assert parsed[1].endswith("@exemple.fr")


@pytest.mark.parametrize("domain", ["exemple.fr>\r\nBcc: x", "exemple.fr\n", "", "a b.fr"])
def test_message_id_needs_a_host_name(domain: str) -> None:
    with pytest.raises(MessageError, match="host name"):
        make_message_id("k", "a@b.fr", domain)


@pytest.mark.parametrize(
    ("subscriber", "subject", "from_name"),
    [
        (ZOE, "Toujours+\r\nBcc: everyone@exemple.fr", ""),
        (Subscriber("zoe@exemple.fr", "Zoé\nBcc: x@y.fr"), "Sujet", ""),
        (Subscriber("zoe@exemple.fr\r\nBcc: x@y.fr"), "Sujet", ""),
        (ZOE, "Sujet", "Toujours+\rBcc: x@y.fr"),
        (Subscriber("zoe@exemple.fr\n"), "Sujet", ""),
        (Subscriber("zoe@exemple.fr", "Jean\n"), "Sujet", ""),
    ],
)
def test_header_injection_is_refused(
    rendered: RenderedIssue, subscriber: Subscriber, subject: str, from_name: str
) -> None:
    evil = RenderedIssue(subject, rendered.preheader, rendered.html, rendered.text, "")
    newsletter = NewsletterSettings(from_name=from_name)
    slots = PersonalSlots("https://x.fr/d/t", "mailto:d@x.fr?subject=u")
    with pytest.raises(MessageError, match="line break"):
        build_message(
            evil, subscriber, slots, newsletter=newsletter, message_id="<a@b.fr>", date=SENT_AT
        )


def test_an_injected_unsubscribe_link_is_refused(rendered: RenderedIssue) -> None:
    slots = PersonalSlots("https://x.fr/d>\r\nBcc: x@y.fr", "mailto:d@x.fr")
    with pytest.raises(MessageError, match="unsubscribe URL"):
        build_message(
            rendered, ZOE, slots, newsletter=NEWSLETTER, message_id="<a@b.fr>", date=SENT_AT
        )


@pytest.mark.parametrize("address", ["not-an-address", "a@b@c.fr", "zoé@exemple.fr", "a,b@c.fr"])
def test_an_invalid_address_is_named(rendered: RenderedIssue, address: str) -> None:
    slots = PersonalSlots("https://x.fr/d/t", "mailto:d@x.fr?subject=u")
    with pytest.raises(MessageError, match=re.escape(repr(address))):
        build_message(
            rendered,
            Subscriber(address, "Zoé"),
            slots,
            newsletter=NEWSLETTER,
            message_id="<a@b.fr>",
            date=SENT_AT,
        )


def test_a_bad_message_id_is_refused(rendered: RenderedIssue) -> None:
    slots = PersonalSlots("https://x.fr/d/t", "mailto:d@x.fr?subject=u")
    with pytest.raises(MessageError, match="Message-ID"):
        build_message(
            rendered, ZOE, slots, newsletter=NEWSLETTER, message_id="a@b.fr", date=SENT_AT
        )


def test_an_international_domain_is_sent_as_its_a_label(rendered: RenderedIssue) -> None:
    raw = message_for(rendered, Subscriber("zoe@café.fr"))[0]
    assert raw_header(raw, "To") == b"To: zoe@xn--caf-dma.fr"


def test_plain_http_links_get_no_one_click_header(rendered: RenderedIssue) -> None:
    newsletter = NewsletterSettings(web_base_url="http://lettre.exemple.fr")
    raw = message_for(rendered, ZOE, newsletter)[0]
    assert raw_header(raw, "List-Unsubscribe").startswith(b"List-Unsubscribe: <http://")
    assert b"List-Unsubscribe-Post" not in raw


def test_a_name_with_markup_is_escaped_in_html(rendered: RenderedIssue) -> None:
    raw = message_for(rendered, Subscriber("zoe@exemple.fr", "Zoé <b>&</b>"))[0]
    message = parse(raw)
    assert "Bonjour Zoé &lt;b&gt;&amp;&lt;/b&gt;," in body_text(message, "html")
    assert "Bonjour Zoé <b>&</b>," in body_text(message, "plain")
    assert message["To"].addresses[0].display_name == "Zoé <b>&</b>"


@pytest.mark.parametrize(
    "subject",
    [
        "Toujours+ n°1\u00a0: Les tendances à la Fashion Week de Milan\u00a0: Viva l’Italia\u202f!",
        "Été " * 40,
        "日本語のニュースレター、今週の話題" * 3,
    ],
)
def test_long_accented_subjects_are_encoded_words_of_at_most_75_characters(subject: str) -> None:
    from digest.messages import encoded_words_header

    raw = encoded_words_header("Subject", subject)
    words = re.findall(rb"=\?utf-8\?b\?[A-Za-z0-9+/=]*\?=", raw)
    assert words and all(len(word) <= 75 for word in words)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw + b"\r\nbody", policy=email.policy.default)
    assert parsed["Subject"] == subject


# Shortcuts of the builder checked against the email package they stand in for.
URL_CHARACTERS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='<>,"')


@given(path=st.text(URL_CHARACTERS, max_size=1000))
def test_list_unsubscribe_is_written_as_the_email_package_writes_it(path: str) -> None:
    from digest.messages import _LIST_POLICY, _header, _unsubscribe_headers

    slots = PersonalSlots(f"https://lettre.exemple.fr/{path}", "mailto:d@exemple.fr?subject=u")
    value = f"<{slots.unsubscribe_url}>, <{slots.unsubscribe_mailto}>"
    assert _unsubscribe_headers(slots)[0] == _header("List-Unsubscribe", value, _LIST_POLICY)


@pytest.mark.parametrize("length", [996, 997, 998, 999, 1000])
def test_list_unsubscribe_at_the_line_limit_is_written_as_the_email_package_writes_it(
    length: int,
) -> None:
    from digest.messages import _LIST_POLICY, _header, _unsubscribe_headers

    mailto = "mailto:d@exemple.fr?subject=u"
    fixed = len("List-Unsubscribe: <https://x/>, <>") + len(mailto)
    slots = PersonalSlots("https://x/" + "a" * (length - fixed), mailto)
    value = f"<{slots.unsubscribe_url}>, <{slots.unsubscribe_mailto}>"
    assert len(f"List-Unsubscribe: {value}") == length
    assert _unsubscribe_headers(slots)[0] == _header("List-Unsubscribe", value, _LIST_POLICY)


QP_TEXT = st.one_of(
    st.text(st.sampled_from("ab .=\t\té:/?-_~<>\n\r"), max_size=400),
    # Long runs of what quoted-printable leaves alone, across the 76-character folds.
    st.text(st.sampled_from("ab ./:?"), min_size=70, max_size=240),
)


def _check_quoted_printable(text: str) -> None:
    from digest.messages import _UTF8_QP, _quoted_printable

    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = (_UTF8_QP.body_encode(lines) or "").replace("\n", "\r\n").encode("ascii")
    # A value that stops mid-line ends with a soft break, so pieces join at line starts.
    expected = encoded if lines.endswith("\n") or not text else encoded + b"=\r\n"
    assert _quoted_printable(text) == expected


@pytest.mark.parametrize("length", [1, 75, 76, 77, 78, 151, 152, 153, 227, 228])
def test_plain_slot_values_fold_as_the_email_package_folds_them(length: int) -> None:
    _check_quoted_printable(("https://exemple.fr/" + "abc/" * 60)[:length])


@given(text=QP_TEXT)
def test_slot_values_are_quoted_printable_as_the_email_package_encodes_them(text: str) -> None:
    _check_quoted_printable(text)


def test_the_same_instant_in_two_zones_keeps_each_offset(rendered: RenderedIssue) -> None:
    slots = personal_slots(JEAN, secret=SECRET, newsletter=NEWSLETTER)
    utc = SENT_AT.astimezone(dt.UTC)
    dates = [
        raw_header(
            build_message(
                rendered, JEAN, slots, newsletter=NEWSLETTER, message_id="<a.b@exemple.fr>", date=d
            ),
            "Date",
        )
        for d in (SENT_AT, utc, SENT_AT.replace(microsecond=5))
    ]
    assert dates == [
        b"Date: Fri, 24 Jan 2025 07:00:00 +0100",
        b"Date: Fri, 24 Jan 2025 06:00:00 +0000",
        b"Date: Fri, 24 Jan 2025 07:00:00 +0100",
    ]
