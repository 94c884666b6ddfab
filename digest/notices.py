"""Short notices to the editors (a thin week, a missed run): plain text, one message each."""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from digest.config import NewsletterSettings

_POLICY = email.policy.SMTP


def notice_message(
    newsletter: NewsletterSettings, recipient: str, subject: str, text: str, now: dt.datetime
) -> bytes:
    """A plain-text notice from the newsletter's address to one editor."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = formataddr((newsletter.from_name or newsletter.name, newsletter.from_address))
    message["To"] = recipient
    message["Subject"] = f"[{newsletter.name}] {subject}"
    message["Date"] = format_datetime(now)
    stamp = hashlib.sha256(f"{recipient}|{subject}|{now.isoformat()}".encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{stamp}.notice@{newsletter.from_address.rpartition('@')[2]}>"
    message.set_content(text, cte="quoted-printable")
    return message.as_bytes()
