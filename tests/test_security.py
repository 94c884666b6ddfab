"""Security checks: forged tokens, answers that tell nothing, TLS and AUTH, secrets kept."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr, ValidationError
from starlette.testclient import TestClient

from digest.catcher import LOOPBACK, free_port
from digest.config import RelaySettings, SmtpSettings, load_settings
from digest.delivery import SmtpSender
from digest.errors import ConfigError, DeliveryError, LedgerError
from digest.ledger import Ledger
from digest.models import DeliveryState, Outcome
from digest.tokens import PREFERENCES, UNSUBSCRIBE, sign_token, verify_token
from digest.web import create_app
from digest.web.confirmation import SmtpConfirmationMailer
from tests.conftest import (
    READY_TIMEOUT,
    RecordingHandler,
    SmtpServer,
    TlsFiles,
    _accept_test_login,
)
from tests.test_web import NOW, SECRET, csrf_of, make_settings

MESSAGE = b"From: lettre@example.org\r\nTo: ok@example.org\r\nSubject: t\r\n\r\nBonjour\r\n"
PASSWORD = "s3cret"  # what the test servers accept for the user "lettre"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


def forged_tokens(count: int, seed: int = 8058) -> Iterator[str]:
    """Random strings and alterations of real tokens: none of them signed by us."""
    chance = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    real = [sign_token(SECRET, UNSUBSCRIBE, f"p{n}@example.org") for n in range(50)]
    for n in range(count):
        token = chance.choice(real)
        value, mac = token.split(".")
        kind = n % 8
        if kind == 0:  # random characters of a token's alphabet, a token's shape
            size = chance.randint(1, 60)
            yield (
                "".join(chance.choices(alphabet, k=size))
                + "."
                + "".join(chance.choices(alphabet, k=22))
            )
        elif kind == 1:  # one bit of the MAC flipped
            raw = bytearray(base64.urlsafe_b64decode(mac + "=="))
            raw[chance.randrange(len(raw))] ^= 1 << chance.randrange(8)
            yield f"{value}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
        elif kind == 2:  # one character of the value changed
            at = chance.randrange(len(value))
            yield (
                value[:at]
                + chance.choice(alphabet.replace(value[at], ""))
                + value[at:][1:]
                + ("." + mac)
            )
        elif kind == 3:  # another address's MAC
            other = chance.choice([r for r in real if r != token])
            yield f"{value}.{other.split('.')[1]}"
        elif kind == 4:  # truncated, then perhaps extended (never back to the token)
            cut = token[: chance.randrange(len(token))]
            extended = cut + "".join(chance.choices(alphabet, k=chance.randint(0, 3)))
            yield extended if extended != token else cut
        elif kind == 5:  # signed with another key or for another purpose
            key = SECRET + b"x" if n % 16 == 5 else SECRET
            purpose = PREFERENCES if n % 16 != 5 else UNSUBSCRIBE
            yield sign_token(key, purpose, f"p{n}@example.org")
        elif kind == 6:  # any printable text
            yield "".join(chance.choices(string.printable, k=chance.randint(0, 80)))
        else:  # padding, whitespace, case
            yield chance.choice([token + "=", token + " ", " " + token, token.swapcase()])


def test_ten_thousand_random_and_altered_tokens_are_all_refused() -> None:
    tokens = list(forged_tokens(10_000))
    assert len(set(tokens)) > 8_000
    accepted = [t for t in tokens if verify_token(SECRET, UNSUBSCRIBE, t) is not None]
    assert accepted == []


@pytest.fixture
def web(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[TestClient, Ledger]]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'web.db'}")
    settings = make_settings(smtp_server, signups_per_ip_per_hour=100)
    app = create_app(settings, ledger, SECRET, SmtpConfirmationMailer(settings.smtp), lambda: NOW)
    with TestClient(app, base_url="https://lettre.example.org") as client:
        yield client, ledger
    ledger.close()


def test_forged_tokens_on_the_web_get_the_answer_a_real_one_gets_and_change_nothing(
    web: tuple[TestClient, Ledger],
) -> None:
    client, ledger = web
    people = [f"p{n}@example.org" for n in range(50)]
    for person in people:
        ledger.add_subscriber(person, "", NOW)
    answers = set()
    for token in list(forged_tokens(300, seed=2369)):
        if "/" in token or not token:
            continue  # another route
        answer = client.post(
            f"/desinscription/{quote(token, safe='')}",
            content=b"List-Unsubscribe=One-Click",
            headers=ONE_CLICK,
        )
        answers.add((answer.status_code, answer.text))
    assert answers == {(200, "Désinscription enregistrée.")}
    assert [status for _, status in ledger.list_subscribers(active_only=False)] == ["active"] * 50


def test_known_and_unknown_addresses_get_the_same_answers(
    web: tuple[TestClient, Ledger],
) -> None:
    client, ledger = web
    for address, status in [
        ("active@example.org", "active"),
        ("left@example.org", "unsubscribed"),
        ("bounced@example.org", "bounced"),
    ]:
        ledger.add_subscriber(address, "", NOW)
        ledger.set_subscriber_status(address, status)
    addresses = ["active@example.org", "left@example.org", "bounced@example.org"]
    unknown = ["nobody@example.org", "personne@example.org"]

    def normalised(text: str, address: str) -> str:
        text = text.replace(address, "ADDRESS")
        text = re.sub(r'name="csrf" value="[0-9a-f]+"', "CSRF", text)
        return re.sub(r"/desinscription/[A-Za-z0-9_.-]+", "/desinscription/TOKEN", text)

    for what in ("sign-up", "unsubscribe page", "one-click"):
        seen = set()
        for address in addresses + unknown:
            token = sign_token(SECRET, UNSUBSCRIBE, address)
            if what == "sign-up":
                form = client.get("/inscription")
                answer = client.post(
                    "/inscription", data={"email": address, "csrf": csrf_of(form.text)}
                )
            elif what == "unsubscribe page":
                answer = client.get(f"/desinscription/{token}")
            else:
                answer = client.post(
                    f"/desinscription/{token}",
                    content=b"List-Unsubscribe=One-Click",
                    headers=ONE_CLICK,
                )
            seen.add((answer.status_code, normalised(answer.text, address)))
        assert len(seen) == 1, f"{what}: the answers tell known addresses apart"


@pytest.fixture
def plain_auth_server() -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 that takes a login without TLS."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(
        handler,
        hostname=LOOPBACK,
        port=port,
        ready_timeout=READY_TIMEOUT,
        authenticator=_accept_test_login,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(LOOPBACK, port, handler)
    finally:
        controller.stop()


def deliver(settings: SmtpSettings) -> Outcome:
    sender = SmtpSender(settings)

    async def go() -> Outcome:
        try:
            await sender.check()
            return await sender.send("lettre@example.org", "ok@example.org", MESSAGE)
        finally:
            await sender.close()

    return asyncio.run(go())


def test_a_login_without_tls_is_refused_unless_allowed(plain_auth_server: SmtpServer) -> None:
    where: dict[str, Any] = {"host": plain_auth_server.host, "port": plain_auth_server.port}
    plain = {**where, "security": "none", "username": "lettre", "timeout": 5}
    with pytest.raises(ValidationError, match="would send the password in clear"):
        SmtpSettings(**plain, password=SecretStr(PASSWORD))
    with pytest.raises(ValidationError, match="would send the password in clear"):
        RelaySettings(**plain, password_env="RELAY_PASSWORD")
    # Settings made without validation are refused again before AUTH is written.
    unchecked = SmtpSettings.model_construct(**plain, password=SecretStr(PASSWORD))
    with pytest.raises(
        ConfigError, match=r"refusing to send the login to 127\.0\.0\.1 without TLS"
    ):
        deliver(unchecked)
    assert plain_auth_server.handler.messages == []
    allowed = SmtpSettings(**plain, password=SecretStr(PASSWORD), allow_plain_auth=True)
    assert deliver(allowed).state is DeliveryState.SENT
    assert len(plain_auth_server.handler.messages) == 1


def test_certificates_are_verified_unless_turned_off_for_the_named_host(
    tls_smtp_server: tuple[str, SmtpServer], tls_files: TlsFiles
) -> None:
    mode, server = tls_smtp_server
    where: dict[str, Any] = {"host": server.host, "port": server.port, "security": mode}
    login: dict[str, Any] = {"username": "lettre", "password": SecretStr(PASSWORD), "timeout": 5}
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        deliver(SmtpSettings(**where, **login))
    assert deliver(SmtpSettings(**where, **login, ca_file=tls_files.cert)).state.value == "sent"
    unverified = SmtpSettings(**where, **login, tls_unverified_host=server.host)
    assert deliver(unverified).state is DeliveryState.SENT
    with pytest.raises(ValidationError, match="not the relay's host"):
        SmtpSettings(**where, **login, tls_unverified_host="other.example.org")
    assert len(server.handler.messages) == 2


def test_secrets_stay_out_of_repr_errors_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls_smtp_server: tuple[str, SmtpServer]
) -> None:
    mode, server = tls_smtp_server
    secrets = {
        "DIGEST_SMTP__PASSWORD": "smtp-Pa55word-x91",
        "DIGEST_SECRET_KEY": "signing-Key-7781-zz",
        "DIGEST_SUMMARIZER__API_KEY": "sk-api-Key-5521",
        "RELAY2_PASSWORD": "relay-Pa55-3309",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "{mode}"\n'
        f'username = "lettre"\ntimeout = 5\ntls_unverified_host = "{server.host}"\n'
        f'[[sending.relays]]\nhost = "{server.host}"\nport = {server.port}\n'
        f'security = "{mode}"\nusername = "lettre"\npassword_env = "RELAY2_PASSWORD"\n'
        '[database]\nurl = "postgresql+psycopg://digest:db-Pa55-6612@127.0.0.1:1/x"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    texts = [repr(settings), str(settings), repr(settings.smtp), repr(settings.sending)]
    with pytest.raises(DeliveryError) as refused:
        deliver(settings.smtp)
    assert "refused the login of 'lettre'" in str(refused.value)
    texts.append(str(refused.value))
    relay = settings.sending.relays[0].model_copy(update={"tls_unverified_host": server.host})
    with pytest.raises(DeliveryError) as login:
        deliver(relay)
    assert "refused the login of 'lettre'" in str(login.value)
    texts.append(str(login.value))
    with pytest.raises(LedgerError) as ledger:
        Ledger(settings.database.url).list_subscribers()
    texts.append(str(ledger.value))
    texts.extend(str(cause) for cause in _chain(ledger.value))
    for secret in (*secrets.values(), "db-Pa55-6612"):
        for text in texts:
            assert secret not in text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        yield exc
