"""Signed link tokens: what we sign comes back, anything else is refused."""

from __future__ import annotations

import base64
import re

import pytest

from digest.errors import ConfigError
from digest.tokens import UNSUBSCRIBE, sign_token, verify_token

SECRET = b"s3cret-key-for-tests-only-0123456789"


def test_a_signed_value_comes_back() -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, "zoé.lefèvre@exemple.fr")
    assert verify_token(SECRET, UNSUBSCRIBE, token) == "zoé.lefèvre@exemple.fr"


def test_tokens_are_url_safe_without_padding() -> None:
    for value in ("a@b.fr", "ab@c.fr", "abc@d.fr", "zoé@exemple.fr", ""):
        token = sign_token(SECRET, UNSUBSCRIBE, value)
        assert re.fullmatch(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+", token), token
        assert verify_token(SECRET, UNSUBSCRIBE, token) == value


def test_signing_is_deterministic() -> None:
    assert sign_token(SECRET, UNSUBSCRIBE, "a@b.fr") == sign_token(SECRET, UNSUBSCRIBE, "a@b.fr")
    assert sign_token(SECRET, UNSUBSCRIBE, "a@b.fr") != sign_token(SECRET, UNSUBSCRIBE, "c@b.fr")


def test_a_swapped_value_is_refused() -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, "victim@exemple.fr")
    other = base64.urlsafe_b64encode(b"attacker@exemple.fr").rstrip(b"=").decode()
    forged = other + "." + token.split(".")[1]
    assert verify_token(SECRET, UNSUBSCRIBE, forged) is None


def test_a_trailing_newline_is_refused() -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, "a@b.fr")
    assert verify_token(SECRET, UNSUBSCRIBE, token + "\n") is None


def test_an_altered_mac_is_refused() -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, "a@b.fr")
    last = token[-2]
    altered = token[:-2] + ("A" if last != "A" else "B") + token[-1]
    assert verify_token(SECRET, UNSUBSCRIBE, altered) is None


def test_another_purpose_or_secret_is_refused() -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, "a@b.fr")
    assert verify_token(SECRET, "preferences", token) is None
    assert verify_token(b"another-secret", UNSUBSCRIBE, token) is None


def test_purpose_and_value_cannot_be_shifted() -> None:
    token = sign_token(SECRET, "unsub", "scribe")
    value = base64.urlsafe_b64encode(b"").rstrip(b"=").decode()
    assert verify_token(SECRET, "unsubscribe", value + "." + token.split(".")[1]) is None


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "a.b.c", "YUBiLmZy", "YUBiLmZy.", "YUBiLmZy.é", "YUBiLmZy.!!", " . "],
)
def test_garbage_is_refused(garbage: str) -> None:
    assert verify_token(SECRET, UNSUBSCRIBE, garbage) is None


def test_a_non_canonical_spelling_is_refused() -> None:
    token = sign_token(SECRET, UNSUBSCRIBE, "ab@c.fr")  # 7 bytes: 4 unused trailing bits
    value, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = value[:-1] + alphabet[alphabet.index(value[-1]) + 1]
    assert base64.urlsafe_b64decode(sibling + "==") == b"ab@c.fr"
    assert verify_token(SECRET, UNSUBSCRIBE, f"{sibling}.{mac}") is None


def test_an_empty_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY"):
        sign_token(b"", UNSUBSCRIBE, "a@b.fr")
