"""The subscribers' web side through its ASGI app, with a real SMTP server for the mails."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from digest.config import Settings
from digest.ledger import Ledger
from digest.models import IsoWeek, RenderedIssue
from digest.tokens import UNSUBSCRIBE, sign_token
from digest.web import create_app
from digest.web.confirmation import SmtpConfirmationMailer
from tests.conftest import SmtpServer

SECRET = b"web-test-secret"
NOW = dt.datetime(2025, 1, 24, 8, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Site:
    client: TestClient
    ledger: Ledger
    clock: Clock
    smtp: SmtpServer


def make_settings(smtp: SmtpServer, **web: int) -> Settings:
    return Settings.model_validate(
        {
            "newsletter": {
                "name": "Toujours+",
                "from_address": "lettre@example.org",
                "web_base_url": "https://lettre.example.org",
            },
            "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "timeout": 5},
            "web": web,
        }
    )


@pytest.fixture
def site(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Site]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'web.db'}")
    clock = Clock()
    settings = make_settings(smtp_server, signups_per_ip_per_hour=3)
    app = create_app(settings, ledger, SECRET, SmtpConfirmationMailer(settings.smtp), clock)
    with TestClient(app, base_url="https://lettre.example.org") as client:
        yield Site(client, ledger, clock, smtp_server)
    ledger.close()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def confirmation_link(message: EmailMessage) -> str:
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    found = re.search(r"https://lettre\.example\.org(/confirmation/\S+)", text.get_content())
    assert found is not None
    return found.group(1)


def sign_up(site: Site, address: str, name: str = "") -> str:
    form = site.client.get("/inscription")
    answer = site.client.post(
        "/inscription", data={"email": address, "name": name, "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 200
    return answer.text


def test_one_click_post_unsubscribes_at_once_without_a_page(site: Site) -> None:
    site.ledger.add_subscriber("lea@example.org", "Léa", NOW)
    token = sign_token(SECRET, UNSUBSCRIBE, "lea@example.org")
    answer = site.client.post(
        f"/desinscription/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    record = site.ledger.find_subscriber("lea@example.org")
    assert record is not None and record.status == "unsubscribed"


def test_following_the_link_never_unsubscribes_but_one_button_does(site: Site) -> None:
    site.ledger.add_subscriber("lea@example.org", "Léa", NOW)
    token = sign_token(SECRET, UNSUBSCRIBE, "lea@example.org")
    page = site.client.get(f"/desinscription/{token}")
    assert page.status_code == 200 and "Je me désinscris" in page.text
    record = site.ledger.find_subscriber("lea@example.org")
    assert record is not None and record.status == "active"
    done = site.client.post(f"/desinscription/{token}", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "Désinscription enregistrée" in done.text
    record = site.ledger.find_subscriber("lea@example.org")
    assert record is not None and record.status == "unsubscribed"


def test_a_forged_token_gets_the_same_answer_and_changes_nothing(site: Site) -> None:
    site.ledger.add_subscriber("lea@example.org", "Léa", NOW)
    real = sign_token(SECRET, UNSUBSCRIBE, "lea@example.org")
    forged = sign_token(b"another-secret", UNSUBSCRIBE, "lea@example.org")
    altered = real[:-2] + ("AA" if not real.endswith("AA") else "BB")
    foreign = sign_token(SECRET, "preferences", "lea@example.org")
    unknown = sign_token(SECRET, UNSUBSCRIBE, "nobody@example.org")
    answers = set()
    for token in (forged, altered, foreign, unknown):
        answer = site.client.post(
            f"/desinscription/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        answers.add((answer.status_code, answer.text))
    assert answers == {(200, "Désinscription enregistrée.")}
    record = site.ledger.find_subscriber("lea@example.org")
    assert record is not None and record.status == "active"


def test_forms_without_their_csrf_field_are_refused(site: Site) -> None:
    answer = site.client.post("/inscription", data={"email": "a@example.org"})
    assert answer.status_code == 403
    site.client.get("/inscription")
    wrong = site.client.post("/inscription", data={"email": "a@example.org", "csrf": "0" * 64})
    assert wrong.status_code == 403
    assert site.ledger.find_subscriber("a@example.org") is None
    assert site.smtp.handler.messages == []


def test_double_opt_in_sends_one_confirmation_and_activates_on_the_button(site: Site) -> None:
    answer = sign_up(site, "karim@example.org", "Karim")
    assert "Vérifiez votre boîte de réception" in answer
    record = site.ledger.find_subscriber("karim@example.org")
    assert record is not None and record.status == "pending"
    (mail,) = site.smtp.parsed()
    assert mail["To"] == "karim@example.org"
    assert mail["Subject"] == "Confirmez votre inscription à Toujours+"
    link = confirmation_link(mail)
    page = site.client.get(link)
    assert "Je confirme mon inscription" in page.text
    record = site.ledger.find_subscriber("karim@example.org")
    assert record is not None and record.status == "pending", "a GET must not confirm"
    done = site.client.post(link, data={"csrf": csrf_of(page.text)})
    assert "Inscription confirmée" in done.text
    record = site.ledger.find_subscriber("karim@example.org")
    assert record is not None and record.status == "active"


def test_repeated_sign_ups_of_one_address_do_not_spam_it(site: Site) -> None:
    first = sign_up(site, "karim@example.org")
    second = sign_up(site, "karim@example.org")
    assert first == second
    assert len(site.smtp.handler.messages) == 1
    site.clock.now = NOW + dt.timedelta(minutes=61)
    sign_up(site, "karim@example.org")
    assert len(site.smtp.handler.messages) == 2


def test_an_active_subscriber_signing_up_again_gets_the_same_answer_and_no_mail(
    site: Site,
) -> None:
    site.ledger.add_subscriber("lea@example.org", "Léa", NOW)
    fresh = sign_up(site, "nouveau@example.org")
    known = sign_up(site, "lea@example.org")
    assert fresh.replace("nouveau@example.org", "X") == known.replace("lea@example.org", "X")
    assert [m["To"] for m in site.smtp.parsed()] == ["nouveau@example.org"]


def test_sign_ups_are_limited_per_client_address(site: Site) -> None:
    for index in range(3):
        sign_up(site, f"p{index}@example.org")
    form = site.client.get("/inscription")
    answer = site.client.post(
        "/inscription", data={"email": "p9@example.org", "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 429
    assert site.ledger.find_subscriber("p9@example.org") is None


def test_an_expired_confirmation_link_does_not_confirm(site: Site) -> None:
    sign_up(site, "karim@example.org")
    link = confirmation_link(site.smtp.parsed()[0])
    site.clock.now = NOW + dt.timedelta(hours=49)
    page = site.client.get(link)
    done = site.client.post(link, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 400 and "Lien expiré" in done.text
    record = site.ledger.find_subscriber("karim@example.org")
    assert record is not None and record.status == "pending"


def test_an_invalid_address_is_named_as_such(site: Site) -> None:
    form = site.client.get("/inscription")
    answer = site.client.post(
        "/inscription", data={"email": "pas une adresse", "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 400 and "n’est pas valide" in answer.text


def test_preferences_pause_then_resume_and_rename(site: Site) -> None:
    site.ledger.add_subscriber("lea@example.org", "Léa", NOW)
    token = sign_token(SECRET, "preferences", "lea@example.org")
    page = site.client.get(f"/preferences/{token}")
    assert 'value="Léa"' in page.text
    done = site.client.post(
        f"/preferences/{token}",
        data={"csrf": csrf_of(page.text), "name": "Léa N.", "pause_weeks": "2"},
    )
    assert "Préférences enregistrées" in done.text
    record = site.ledger.find_subscriber("lea@example.org")
    assert record is not None
    assert (record.status, record.subscriber.name) == ("paused", "Léa N.")
    assert record.paused_until == NOW + dt.timedelta(weeks=2)
    assert site.ledger.resume_paused(NOW + dt.timedelta(weeks=1)) == 0
    assert site.ledger.resume_paused(NOW + dt.timedelta(weeks=2)) == 1
    record = site.ledger.find_subscriber("lea@example.org")
    assert record is not None and record.status == "active"


def _save_issue(ledger: Ledger, week: IsoWeek, number: int, body: str) -> None:
    web = f"<html><head><style>.x{{color:red}}</style></head><body>{body}</body></html>"
    rendered = RenderedIssue(f"Toujours+ n°{number}", "pré", web, "texte", web)
    ledger.save_issue("Toujours+", week, number, rendered, "{}", NOW)


def test_the_archive_lists_issues_newest_first_and_serves_them_sanitised(site: Site) -> None:
    _save_issue(site.ledger, IsoWeek(2025, 3), 1, "<p>Premier</p>")
    _save_issue(
        site.ledger,
        IsoWeek(2025, 4),
        2,
        '<p onclick="steal()">Second<script>alert(1)</script></p>'
        '<img src="https://img.example.org/a.jpg" alt="Photo" onerror="x()">'
        '<a href="javascript:alert(1)">piège</a><a href="https://ex.org/a">lien</a>',
    )
    index = site.client.get("/archives")
    assert index.text.index("n°2") < index.text.index("n°1")
    page = site.client.get("/archives/2025-W04")
    assert page.status_code == 200
    for forbidden in ("<script", "onclick", "onerror", "javascript:"):
        assert forbidden not in page.text
    assert 'alt="Photo"' in page.text and 'href="https://ex.org/a"' in page.text
    assert ".x{color:red}" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    feed = site.client.get("/archives/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert feed.text.count("<entry>") == 2
    assert "https://lettre.example.org/archives/2025-W04" in feed.text
    assert site.client.get("/archives/2025-W09").status_code == 404


def test_every_page_carries_the_security_headers(site: Site) -> None:
    for path in ("/", "/inscription", "/archives", "/desinscription", "/nulle-part"):
        headers = site.client.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    missing = site.client.get("/nulle-part")
    assert missing.status_code == 404 and "Page introuvable" in missing.text


def test_an_oversized_request_is_refused(site: Site) -> None:
    answer = site.client.post(
        "/inscription",
        content=b"x" * 20000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
