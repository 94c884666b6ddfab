"""Signed tokens for links (unsubscribe, preferences): ``<value>.<mac>``, both base64url.

The value is readable by whoever holds the link; the MAC only proves that we wrote it,
for one purpose. A token signed for "unsubscribe" is worth nothing as a "preferences" one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from digest.errors import ConfigError

# RFC 2104 section 5: a MAC truncated to half the hash output (and >= 80 bits) keeps
# its strength; 128 bits keep the links short enough for the plain-text part.
_MAC_BYTES = 16
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
"""Purpose of the token in unsubscribe links (web page, mailto subject, one-click POST)."""
_TOKEN = re.compile(r"([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)")
_NAMESPACE = b"digest-token-v1"


def sign_token(secret: bytes, purpose: str, value: str) -> str:
    """Sign ``value`` for ``purpose``; the result is safe in a URL path or query."""
    payload = value.encode("utf-8")
    return f"{_encode(payload)}.{_encode(_mac(secret, purpose, payload))}"


def verify_token(secret: bytes, purpose: str, token: str) -> str | None:
    """The value ``token`` was signed with for ``purpose``, or None if forged or altered."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    payload, mac = _decode(match.group(1)), _decode(match.group(2))
    if payload is None or mac is None:
        return None
    if not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _mac(secret: bytes, purpose: str, payload: bytes) -> bytes:
    if not secret:
        raise ConfigError("the secret key is empty; set DIGEST_SECRET_KEY")
    if "\0" in purpose:
        raise ValueError("a token purpose may not contain NUL")
    # The NUL after the purpose keeps ("ab", "c") and ("a", "bc") apart.
    message = b"\0".join((_NAMESPACE, purpose.encode("utf-8"), payload))
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling is accepted: unused trailing bits must be zero.
    return data if _encode(data) == text else None
