"""The Starlette app of ``digest serve``: the pages subscribers reach from their mail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from digest.config import Settings
from digest.errors import SubscriberError
from digest.ledger import Ledger
from digest.models import IsoWeek, SignupOutcome
from digest.resources import bundled_dir
from digest.subscribers import clean_name, normalize_address
from digest.tokens import PREFERENCES, UNSUBSCRIBE, sign_token, verify_token
from digest.web.archive import atom_feed, sanitized_issue_page
from digest.web.confirmation import (
    ConfirmationMailer,
    confirmation_message,
    confirmation_token,
    confirmed_address,
)
from digest.web.ratelimit import SlidingWindow
from digest.web.security import (
    ARCHIVE_POLICY,
    CSRF_COOKIE,
    CSRF_FIELD,
    BodySizeLimit,
    SecurityHeaders,
    csrf_token,
    csrf_valid,
    new_csrf_cookie,
)

ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058 section 3.1
PAUSES = (
    (0, "Pas de pause"),
    (1, "Une semaine"),
    (2, "Deux semaines"),
    (4, "Un mois"),
    (8, "Deux mois"),
)
Clock = Callable[[], dt.datetime]


def web_templates_dir() -> Path:
    """The bundled page templates and stylesheet."""
    return bundled_dir("templates") / "web"


class WebSide:
    """Every page of the web side, sharing the settings, the ledger and the mailer."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        secret: bytes,
        mailer: ConfirmationMailer,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.secret = secret
        self.mailer = mailer
        self.clock = clock
        self.signups = SlidingWindow(settings.web.signups_per_ip_per_hour, 3600)
        self.pages = jinja2.Environment(
            loader=jinja2.FileSystemLoader(web_templates_dir()),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # -- helpers -------------------------------------------------------------------------

    def page(
        self, request: Request, template: str, status: int = 200, **context: object
    ) -> Response:
        """Render a page; forms get a CSRF field tied to the visitor's cookie."""
        cookie = request.cookies.get(CSRF_COOKIE) or new_csrf_cookie()
        body = self.pages.get_template(template).render(
            newsletter=self.settings.newsletter, csrf=csrf_token(self.secret, cookie), **context
        )
        response = HTMLResponse(body, status_code=status)
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            httponly=True,
            samesite="strict",
            secure=self.settings.newsletter.web_base_url.startswith("https://"),
        )
        return response

    def message(
        self, request: Request, title: str, *paragraphs: str, status: int = 200
    ) -> Response:
        return self.page(request, "message.html.j2", status, title=title, paragraphs=paragraphs)

    async def form(self, request: Request) -> dict[str, str] | None:
        """The submitted form, or None when its CSRF field does not match the cookie."""
        data = await request.form()
        fields = {key: str(value) for key, value in data.items() if isinstance(value, str)}
        if not csrf_valid(self.secret, request.cookies.get(CSRF_COOKIE), fields.get(CSRF_FIELD)):
            return None
        return fields

    def refused(self, request: Request) -> Response:
        return self.message(
            request,
            "Formulaire expiré",
            "Ce formulaire a expiré ou ne vient pas de ce site. Rechargez la page et réessayez.",
            status=403,
        )

    # -- sign-up ---------------------------------------------------------------------------

    async def subscribe_form(self, request: Request) -> Response:
        return self.page(
            request, "subscribe.html.j2", title=f"S’inscrire à {self.settings.newsletter.name}"
        )

    async def subscribe(self, request: Request) -> Response:
        fields = await self.form(request)
        if fields is None:
            return self.refused(request)
        client = request.client.host if request.client else "unknown"
        if not self.signups.allow(client):
            return self.message(
                request,
                "Trop de demandes",
                "Trop d’inscriptions depuis votre connexion. Réessayez dans une heure.",
                status=429,
            )
        try:
            address = normalize_address(fields.get("email", ""))
        except SubscriberError:
            return self.message(
                request,
                "Adresse invalide",
                "Cette adresse électronique n’est pas valide. Vérifiez-la et réessayez.",
                status=400,
            )
        name = clean_name(fields.get("name", ""))
        await self.request_confirmation(address, name)
        # The same answer whatever the address's state: nobody learns who is subscribed.
        return self.message(
            request,
            "Vérifiez votre boîte de réception",
            f"Si l’adresse {address} peut recevoir {self.settings.newsletter.name}, un courriel "
            "de confirmation vient de lui être envoyé. Ouvrez-le pour confirmer votre inscription.",
        )

    async def request_confirmation(self, address: str, name: str) -> None:
        now = self.clock()
        web = self.settings.web
        outcome = await run_in_threadpool(
            self.ledger.request_subscription,
            address,
            name,
            now,
            dt.timedelta(minutes=web.resend_confirmation_minutes),
        )
        if outcome is not SignupOutcome.SEND_CONFIRMATION:
            return
        expires = now + dt.timedelta(hours=web.confirmation_hours)
        token = confirmation_token(self.secret, address, expires)
        link = f"{self.settings.newsletter.web_base_url}/confirmation/{token}"
        message = confirmation_message(
            self.settings.newsletter, address, link, web.confirmation_hours, now
        )
        await self.mailer.send(self.settings.newsletter.from_address, address, message)

    async def confirm_page(self, request: Request) -> Response:
        return self.page(
            request,
            "action.html.j2",
            title="Confirmer votre inscription",
            explanation="Un dernier clic pour recevoir la lettre chaque semaine.",
            action=request.url.path,
            button="Je confirme mon inscription",
        )

    async def confirm(self, request: Request) -> Response:
        if await self.form(request) is None:
            return self.refused(request)
        address = confirmed_address(self.secret, request.path_params["token"], self.clock())
        if address is None or not await run_in_threadpool(
            self.ledger.confirm_subscription, address
        ):
            return self.message(
                request,
                "Lien expiré",
                "Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau "
                "pour en recevoir un autre.",
                status=400,
            )
        return self.message(
            request,
            "Inscription confirmée",
            f"Merci ! Vous recevrez {self.settings.newsletter.name} dès le prochain numéro.",
        )

    # -- unsubscribe -------------------------------------------------------------------------

    async def unsubscribe_page(self, request: Request) -> Response:
        # A GET never unsubscribes: mail scanners follow links.
        return self.page(
            request,
            "action.html.j2",
            title="Se désinscrire",
            explanation=f"Vous ne recevrez plus {self.settings.newsletter.name}.",
            action=request.url.path,
            button="Je me désinscris",
        )

    async def unsubscribe(self, request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace").strip()
        one_click = body == ONE_CLICK
        if not one_click and await self.form(request) is None:
            return self.refused(request)
        address = verify_token(self.secret, UNSUBSCRIBE, request.path_params["token"])
        if address is not None:
            await run_in_threadpool(self.ledger.set_subscriber_status, address, "unsubscribed")
        if one_click:
            return PlainTextResponse("Désinscription enregistrée.")
        return self.message(
            request,
            "Désinscription enregistrée",
            f"Vous ne recevrez plus {self.settings.newsletter.name}. "
            "Vous pouvez vous réinscrire à tout moment.",
        )

    async def unsubscribe_help(self, request: Request) -> Response:
        return self.message(
            request,
            "Se désinscrire",
            "Pour vous désinscrire, utilisez le lien « Se désinscrire » en bas "
            "de la lettre que vous avez reçue.",
        )

    # -- preferences ---------------------------------------------------------------------------

    async def preferences_page(self, request: Request) -> Response:
        address = verify_token(self.secret, PREFERENCES, request.path_params["token"])
        record = await run_in_threadpool(self.ledger.find_subscriber, address) if address else None
        name = record.subscriber.name if record else ""
        unsubscribe = sign_token(self.secret, UNSUBSCRIBE, address or "")
        return self.page(
            request,
            "preferences.html.j2",
            title="Vos préférences",
            action=request.url.path,
            name=name,
            pauses=PAUSES,
            unsubscribe_url=f"/desinscription/{unsubscribe}",
        )

    async def preferences(self, request: Request) -> Response:
        fields = await self.form(request)
        if fields is None:
            return self.refused(request)
        address = verify_token(self.secret, PREFERENCES, request.path_params["token"])
        weeks = fields.get("pause_weeks", "0")
        if not weeks.isdigit() or int(weeks) not in dict(PAUSES):
            return self.message(
                request, "Choix invalide", "Choisissez une durée de pause de la liste.", status=400
            )
        until = self.clock() + dt.timedelta(weeks=int(weeks)) if int(weeks) else None
        name = clean_name(fields.get("name", ""))
        if address is not None:
            await run_in_threadpool(
                self.ledger.set_preferences, address, name=name, paused_until=until
            )
        return self.message(
            request, "Préférences enregistrées", "Vos préférences sont enregistrées."
        )

    # -- archive ---------------------------------------------------------------------------------

    async def archive(self, request: Request) -> Response:
        entries = await run_in_threadpool(self.ledger.list_issues, self.settings.newsletter.name)
        shown = [
            {
                "week": str(e.week),
                "number": e.number,
                "subject": e.subject,
                "date": e.built_at.astimezone(self.settings.newsletter.zone).strftime("%d/%m/%Y"),
            }
            for e in entries
        ]
        return self.page(request, "archive.html.j2", title="Les numéros précédents", entries=shown)

    async def archived_issue(self, request: Request) -> Response:
        try:
            week = IsoWeek.parse(request.path_params["week"])
        except ValueError as exc:
            raise HTTPException(404) from exc
        saved = await run_in_threadpool(self.ledger.load_issue, self.settings.newsletter.name, week)
        if saved is None:
            raise HTTPException(404)
        page = sanitized_issue_page(saved.rendered.web_html, saved.rendered.subject)
        return HTMLResponse(page, headers={"content-security-policy": ARCHIVE_POLICY})

    async def feed(self, request: Request) -> Response:
        entries = await run_in_threadpool(self.ledger.list_issues, self.settings.newsletter.name)
        return Response(
            atom_feed(self.settings.newsletter, entries[:50]),
            media_type="application/atom+xml; charset=utf-8",
        )

    async def stylesheet(self, request: Request) -> Response:
        css = (web_templates_dir() / "style.css").read_text(encoding="utf-8")
        return Response(
            css,
            media_type="text/css; charset=utf-8",
            headers={"cache-control": "public, max-age=3600"},
        )

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.message(request, "Page introuvable", "Cette page n’existe pas.", status=404)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return HTMLResponse(
            '<!doctype html><html lang="fr"><title>Erreur</title>'
            "<p>Une erreur est survenue. Réessayez plus tard.</p></html>",
            status_code=500,
        )


def create_app(
    settings: Settings, ledger: Ledger, secret: bytes, mailer: ConfirmationMailer, clock: Clock
) -> Starlette:
    """The ASGI app: routes, security headers, body size limit, French error pages."""
    side = WebSide(settings, ledger, secret, mailer, clock)
    routes = [
        Route("/", side.subscribe_form),
        Route("/inscription", side.subscribe_form, methods=["GET"]),
        Route("/inscription", side.subscribe, methods=["POST"]),
        Route("/confirmation/{token}", side.confirm_page, methods=["GET"]),
        Route("/confirmation/{token}", side.confirm, methods=["POST"]),
        Route("/desinscription", side.unsubscribe_help, methods=["GET"]),
        Route("/desinscription/{token}", side.unsubscribe_page, methods=["GET"]),
        Route("/desinscription/{token}", side.unsubscribe, methods=["POST"]),
        Route("/preferences/{token}", side.preferences_page, methods=["GET"]),
        Route("/preferences/{token}", side.preferences, methods=["POST"]),
        Route("/archives", side.archive),
        Route("/archives/feed.atom", side.feed),
        Route("/archives/{week}", side.archived_issue),
        Route("/style.css", side.stylesheet),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodySizeLimit, limit=settings.web.max_body_bytes),
        ],
        exception_handlers={404: side.not_found, 405: side.not_found, 500: side.server_error},
    )
