"""A DKIM-signed message keeps the builder's ready DATA form (`SmtpData`), equal to the
generic dot-stuffing of its bytes, and still verifies."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from digest.config import NewsletterSettings
from digest.messages import build_message, personal_slots
from digest.models import Subscriber
from digest.signing import DkimSigner
from digest.smtpwire import SmtpData, stuffed
from tests.conftest import DKIM_DOMAIN, DKIM_SELECTOR, DkimKey
from tests.sendkit import RENDERED, SECRET

NEWSLETTER = NewsletterSettings(
    from_address="lettre@exemple.fr", web_base_url="https://lettre.exemple.fr"
)
ZOE = Subscriber("zoe@exemple.fr", "Zoé Lefèvre", id=1)


def _message(text: str) -> SmtpData:
    rendered = replace(RENDERED, text=text)
    slots = personal_slots(ZOE, secret=SECRET, newsletter=NEWSLETTER)
    return build_message(
        rendered,
        ZOE,
        slots,
        newsletter=NEWSLETTER,
        message_id="<n1.abc@exemple.fr>",
        date=dt.datetime(2025, 1, 24, 7, 0, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def signer(dkim_key: DkimKey) -> DkimSigner:
    return DkimSigner(dkim_key.private.read_bytes(), DKIM_SELECTOR, DKIM_DOMAIN)


@pytest.mark.parametrize(
    "text",
    [
        "%%DIGEST_GREETING%%\n.Un point en tête de ligne\n..et deux\n%%DIGEST_UNSUBSCRIBE_URL%%\n",
        "%%DIGEST_GREETING%%\nAucun point en tête.\n%%DIGEST_UNSUBSCRIBE_URL%%\n",
    ],
    ids=["dotted", "plain"],
)
def test_a_signed_message_keeps_its_ready_data_form(
    signer: DkimSigner, dkim_key: DkimKey, text: str
) -> None:
    message = _message(text)
    assert type(message) is SmtpData
    if "\n." in text:
        assert message.stuffed is not None
    signed = signer.sign(message)
    assert type(signed) is SmtpData
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(bytes(message))
    assert (signed.stuffed is None) == (message.stuffed is None)
    # What goes on the wire is what the generic stuffing makes of the same plain bytes.
    assert stuffed(signed) == stuffed(bytes(signed))
    assert dkim_key.verifies(bytes(signed))


def test_plain_bytes_are_signed_as_plain_bytes(signer: DkimSigner, dkim_key: DkimKey) -> None:
    plain = bytes(_message("%%DIGEST_GREETING%%\n%%DIGEST_UNSUBSCRIBE_URL%%\n"))
    signed = signer.sign(plain)
    assert type(signed) is bytes
    assert dkim_key.verifies(signed)


def test_the_signature_header_is_crlf_lines_none_starting_with_a_dot(
    signer: DkimSigner,
) -> None:
    message = _message("%%DIGEST_GREETING%%\n.x\n%%DIGEST_UNSUBSCRIBE_URL%%\n")
    header = bytes(signer.sign(message))[: -len(message)]
    lines = header.split(b"\r\n")
    assert lines[0].startswith(b"DKIM-Signature: ") and len(lines) > 2 and lines[-1] == b""
    assert all(not line.startswith(b".") for line in lines)
    assert b"\n" not in header.replace(b"\r\n", b"") and b"\r" not in header.replace(b"\r\n", b"")
