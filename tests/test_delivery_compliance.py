"""What receivers check: DKIM verified with dkimpy against the public key, the golden .eml.

Regenerate the golden message after an intended change with:
    DIGEST_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_delivery_compliance.py
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dkim
import pytest

from digest.config import DeliverySettings, NewsletterSettings
from digest.errors import ConfigError
from digest.messages import build_message, make_message_id, personal_slots
from digest.models import Subscriber
from digest.signing import SIGNED_HEADERS, make_signer
from tests.conftest import DKIM_SELECTOR, DkimKey
from tests.sendkit import RENDERED, SECRET

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "personal.eml"
NEWSLETTER = NewsletterSettings(
    from_address="lettre@exemple.fr",
    reply_to="courrier@exemple.fr",
    web_base_url="https://lettre.exemple.fr",
)
SENT_AT = dt.datetime(2025, 1, 24, 7, 0, tzinfo=dt.UTC)
ZOE = Subscriber("zoe@exemple.fr", "Zoé Lefèvre", id=1)


def _message(feedback_id: str = "") -> bytes:
    slots = personal_slots(ZOE, secret=SECRET, newsletter=NEWSLETTER)
    return build_message(
        RENDERED,
        ZOE,
        slots,
        newsletter=NEWSLETTER,
        message_id=make_message_id("2025-W04.n1", ZOE.email, "exemple.fr"),
        date=SENT_AT,
        feedback_id=feedback_id,
    )


def _signed(key: DkimKey, message: bytes) -> bytes:
    settings = DeliverySettings(dkim_key_file=key.private, dkim_selector=DKIM_SELECTOR)
    signer = make_signer(settings, NEWSLETTER)
    assert signer is not None
    return signer.sign(message)


def test_a_signed_message_verifies_against_the_public_key(dkim_key: DkimKey) -> None:
    signed = _signed(dkim_key, _message("n1:toujours:lettre:digest"))
    assert signed.startswith(b"DKIM-Signature: ")
    assert dkim_key.verifies(signed)


def test_the_signature_covers_the_headers_receivers_rely_on(dkim_key: DkimKey) -> None:
    signed = _signed(dkim_key, _message())
    header = signed.split(b"\r\n\r\n", 1)[0].split(b"\r\nDate:", 1)[0]
    signed_list = dkim.util.parse_tag_value(header.split(b":", 1)[1].replace(b"\r\n", b""))[b"h"]
    names = {name.strip().lower() for name in signed_list.split(b":")}
    for required in (b"from", b"to", b"subject", b"date", b"message-id"):
        assert required in names
    assert {b"list-unsubscribe", b"list-unsubscribe-post"} <= names
    assert len(names) == len(SIGNED_HEADERS)


def test_a_changed_unsubscribe_link_or_body_breaks_the_signature(dkim_key: DkimKey) -> None:
    signed = _signed(dkim_key, _message())
    assert not dkim_key.verifies(
        signed.replace(b"List-Unsubscribe: <https", b"List-Unsubscribe: <http")
    )
    assert not dkim_key.verifies(signed.replace(b"Se d=C3=A9sinscrire", b"Se desinscrire"))


def test_a_bad_key_file_or_missing_selector_is_one_clear_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dkim_key_file .*bad\.key is not a usable"):
        make_signer(DeliverySettings(dkim_key_file=bad, dkim_selector="s"), NEWSLETTER)
    with pytest.raises(ConfigError, match="dkim_selector is empty"):
        make_signer(DeliverySettings(dkim_key_file=bad), NEWSLETTER)
    assert make_signer(DeliverySettings(), NEWSLETTER) is None


def test_feedback_id_is_an_optional_ascii_header() -> None:
    assert b"\r\nFeedback-ID: n1:toujours:lettre:digest\r\n" in _message(
        "n1:toujours:lettre:digest"
    )
    assert b"Feedback-ID" not in _message()


def test_one_personalised_message_matches_its_golden_copy() -> None:
    produced = _message("n1:toujours:lettre:digest")
    if os.environ.get("DIGEST_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_bytes(produced)
    assert SNAPSHOT.exists(), "no golden personal.eml: run with DIGEST_UPDATE_SNAPSHOTS=1"
    assert produced == SNAPSHOT.read_bytes(), "personal.eml changed; see the module docstring"
    head = produced.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in produced.split(b"\r\n"))
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head


def test_the_editors_preview_is_signed_like_a_subscribers_message(dkim_key: DkimKey) -> None:
    from digest.config import Settings
    from digest.models import IsoWeek, SavedIssue
    from digest.pipeline import make_preview

    settings = Settings.model_validate(
        {
            "newsletter": NEWSLETTER.model_dump(),
            "sending": {"dkim_key_file": str(dkim_key.private), "dkim_selector": DKIM_SELECTOR},
        }
    )
    now = dt.datetime(2025, 1, 24, 6, 0, tzinfo=dt.UTC)
    saved = SavedIssue(1, "Toujours+", IsoWeek(2025, 4), 1, RENDERED, "{}", now)
    preview = make_preview(saved, "redaction@example.org", settings, now)
    assert preview.startswith(b"DKIM-Signature:")
    assert dkim_key.verifies(preview)
