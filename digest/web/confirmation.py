"""The double opt-in mail: signed, expiring confirmation links and the message itself."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from digest.config import NewsletterSettings, SmtpSettings
from digest.delivery import SmtpSender
from digest.errors import DeliveryError
from digest.models import DeliveryState, Outcome
from digest.notices import simple_message
from digest.tokens import sign_token, verify_token

CONFIRM = "confirm"


def confirmation_token(secret: bytes, address: str, expires: dt.datetime) -> str:
    """A signed token naming the address and when the link stops working."""
    return sign_token(secret, CONFIRM, f"{address}|{int(expires.timestamp())}")


def confirmed_address(secret: bytes, token: str, now: dt.datetime) -> str | None:
    """The address of a valid, unexpired confirmation token; None for anything else."""
    value = verify_token(secret, CONFIRM, token)
    if value is None or "|" not in value:
        return None
    address, _, expires = value.rpartition("|")
    if not expires.isdigit() or int(expires) < now.timestamp():
        return None
    return address


def confirmation_message(
    newsletter: NewsletterSettings, address: str, link: str, hours: int, now: dt.datetime
) -> bytes:
    """The confirmation mail: plain text and a little HTML, in French."""
    text = (
        f"Bonjour,\n\nPour recevoir {newsletter.name} chaque semaine, confirmez votre "
        f"inscription en ouvrant ce lien\u00a0:\n\n{link}\n\nLe lien est valable {hours}\u00a0"
        "heures. Si vous n’avez rien demandé, ignorez ce message\u00a0: vous ne recevrez "
        f"rien.\n\n{newsletter.publisher}\n{newsletter.publisher_address}\n"
    )
    html = (
        f'<!doctype html><html lang="fr"><body><p>Bonjour,</p><p>Pour recevoir '
        f"{_escape(newsletter.name)} chaque semaine, confirmez votre inscription&nbsp;:</p>"
        f'<p><a href="{_escape(link)}">Confirmer mon inscription</a></p>'
        f"<p>Le lien est valable {hours}&nbsp;heures. Si vous n’avez rien demandé, "
        "ignorez ce message.</p></body></html>"
    )
    subject = f"Confirmez votre inscription à {newsletter.name}"
    return simple_message(newsletter, address, subject, text, now, html=html, kind="confirm")


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


class ConfirmationMailer(Protocol):
    """Sends one confirmation message."""

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome: ...


class SmtpConfirmationMailer:
    """Sends through the newsletter's own relay, one connection per message."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self._smtp = smtp

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> Outcome:
        """Send now; a relay that cannot be reached is a deferred outcome, not a crash."""
        sender = SmtpSender(self._smtp.model_copy(update={"connections": 1}))
        try:
            return await sender.send(envelope_from, recipient, message)
        except DeliveryError as exc:
            return Outcome(DeliveryState.DEFERRED, None, str(exc))
        finally:
            await sender.close()
