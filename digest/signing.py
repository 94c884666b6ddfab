"""DKIM signatures (RFC 6376) with dkimpy, from a private key file named in the config."""

from __future__ import annotations

from pathlib import Path

import dkim

from digest.config import DeliverySettings, NewsletterSettings
from digest.errors import ConfigError, MessageError
from digest.smtpwire import SmtpData

# Signed even when absent ("oversigning", RFC 6376 section 8.15): a header added later by
# someone else breaks the signature instead of riding on it.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
    b"MIME-Version",
    b"Content-Type",
)
# relaxed headers survive refolding by relays; simple body: the body hash is one pass of
# SHA-256 over bytes that no relay should touch (they are quoted-printable, 7bit).
CANONICALIZATION = (b"relaxed", b"simple")


class DkimSigner:
    """Signs messages for one domain and selector."""

    def __init__(self, key: bytes, selector: str, domain: str) -> None:
        self.key = key
        self.selector = selector
        self.domain = domain

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front.

        The builder's `SmtpData` stays one: the header is CRLF lines, none starting with a
        dot (its first is the field name, the others are folded, starting with a space), so
        the message's dot-stuffed copy only needs the header in front too.
        """
        try:
            header = dkim.sign(
                message,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.key,
                canonicalize=CANONICALIZATION,
                include_headers=list(SIGNED_HEADERS),
                linesep=b"\r\n",
            )
        except dkim.DKIMException as exc:
            raise MessageError(f"cannot DKIM-sign the message: {exc}") from exc
        signed = bytes(header) + message
        if isinstance(message, SmtpData):
            ready = None if message.stuffed is None else bytes(header) + message.stuffed
            return SmtpData(signed, ready)
        return signed


def make_signer(delivery: DeliverySettings, newsletter: NewsletterSettings) -> DkimSigner | None:
    """The configured signer, or None when no key file is set."""
    if delivery.dkim_key_file is None:
        return None
    if not delivery.dkim_selector:
        raise ConfigError("sending.dkim_key_file is set but sending.dkim_selector is empty")
    domain = delivery.dkim_domain or newsletter.from_address.rpartition("@")[2]
    key = _read_key(delivery.dkim_key_file)
    signer = DkimSigner(key, delivery.dkim_selector, domain)
    try:
        signer.sign(b"From: a@" + domain.encode("idna") + b"\r\n\r\ncheck\r\n")
    except (MessageError, UnicodeError) as exc:
        raise ConfigError(
            f"sending.dkim_key_file {delivery.dkim_key_file} is not a usable private key "
            f"for {domain}: {exc}"
        ) from exc
    return signer


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read sending.dkim_key_file {path}: {exc.strerror or exc}"
        ) from exc
