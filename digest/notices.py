"""Short one-off messages from the newsletter (a notice to the editors, a confirmation)."""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from digest.config import NewsletterSettings

_POLICY = email.policy.SMTP


def simple_message(
    newsletter: NewsletterSettings,
    recipient: str,
    subject: str,
    text: str,
    now: dt.datetime,
    *,
    html: str = "",
    kind: str = "notice",
) -> bytes:
    """A message from the newsletter's address to one person: text, and HTML if given."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = formataddr((newsletter.from_name or newsletter.name, newsletter.from_address))
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    stamp = hashlib.sha256(f"{recipient}|{subject}|{now.isoformat()}".encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{stamp}.{kind}@{newsletter.from_address.rpartition('@')[2]}>"
    message.set_content(text, cte="quoted-printable")
    if html:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message.as_bytes()


def notice_message(
    newsletter: NewsletterSettings, recipient: str, subject: str, text: str, now: dt.datetime
) -> bytes:
    """A plain-text notice to one editor, its subject marked with the newsletter's name."""
    return simple_message(newsletter, recipient, f"[{newsletter.name}] {subject}", text, now)
