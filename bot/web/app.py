"""Subscribe, confirm and unsubscribe pages for the email digests (Starlette).

- ``GET /subscribe/{channel}`` shows a form; ``POST`` records the address as *pending* and
  sends one confirmation email with a signed link. The answer is the same whether or not the
  address was known, so the form cannot be used to learn who reads what. The email goes out
  after the answer (a background task), so neither the answer nor its timing says whether
  one was sent.
- The form cannot be turned on someone's inbox: one confirmation email per address and digest
  per ``web.subscribe_limit.confirm_cooldown`` (and ``confirm_per_day``), counted in the store;
  and each client may POST ``per_client`` times per ``window``, then gets 429 with
  Retry-After. Behind a reverse proxy, ``web.trusted_proxies`` says whose X-Forwarded-For
  to believe (bot.web.ratelimit).
- ``GET /confirm/{token}`` and ``GET /unsubscribe/{token}`` only show a page with a button:
  link scanners and mail previews fetch links, and must not change anything.
- ``POST /confirm/{token}`` activates; ``POST /unsubscribe/{token}`` unsubscribes. The latter
  is also the RFC 8058 one-click target (``List-Unsubscribe=One-Click``): no cookie, no login.
- A token that does not verify (tampered, another digest's, expired confirmation) changes
  nothing and the page says so, with status 400.

Pages carry ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``: the token is in
the URL and must not leak to other sites or caches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.config import Config, EmailChannel
from bot.digest.commands import TEST_COPY_TOKEN
from bot.digest.confirmations import confirmation_for
from bot.digest.smtp import connect
from bot.digest.subscriber_list import SubscriberError, normalise_address
from bot.digest.tokens import (
    TokenClaim,
    names,
    read_token,
    secret_of,
)
from bot.render import make_environment, render_template
from bot.store import Store
from bot.store.confirmations import ConfirmationClaim
from bot.store.subscribers import Subscriber
from bot.web.headers import security_middleware
from bot.web.health import GetService, health_routes
from bot.web.metrics_access import MetricsAccess
from bot.web.ratelimit import RateLimiter, client_key, parse_networks, retry_after

if TYPE_CHECKING:
    from bot.desk.hooks import BotHooks

log = logging.getLogger(__name__)

# Referrer-Policy, framing and nosniff come with every response (bot.web.headers); a page
# holding a reader's token must not be cached either.
_HEADERS = {"Cache-Control": "no-store"}
_UNUSABLE = "That does not look like an email address we can write to. Please check it."
_BAD_LINK = ("This link is not valid (it may have been altered or have expired). "
             "Nothing was changed.")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_app(config: Config, store: Store,
             get_service: GetService | None = None, *,
             clock: Callable[[], datetime] = _utc_now,
             config_path: Path | None = None,
             desk_hooks: BotHooks | None = None,
             metrics_access: MetricsAccess | None = None) -> Starlette:
    """The readers' pages for every email channel in ``config``; with ``get_service``, also
    ``/healthz`` (store, scheduler, channels) and ``/metrics`` (see bot.web.health).
    ``clock`` is what the subscribe limits read (tests move it on). With ``config_path``
    and ``desk.enabled``, the editors' desk too (/desk, bot.desk); ``desk_hooks`` is the bot
    running in this process, which the editors' actions wake (bot.desk.hooks).
    ``metrics_access``: who else may scrape /metrics (default: what the environment says,
    bot.web.metrics_access)."""
    env = make_environment(config)
    secret = secret_of(config)
    limits = config.web.subscribe_limit
    proxies = parse_networks(config.web.trusted_proxies)
    limiter = RateLimiter(limits.per_client, limits.window.total_seconds())

    def page(name: str, status: int = 200, headers: dict[str, str] | None = None,
             background: BackgroundTask | None = None, **context: Any) -> HTMLResponse:
        body = render_template(env, f"web/{name}.html.j2", context)
        return HTMLResponse(body, status_code=status, headers={**_HEADERS, **(headers or {})},
                            background=background)

    def message(heading: str, text: str, status: int = 200,
                headers: dict[str, str] | None = None,
                background: BackgroundTask | None = None) -> HTMLResponse:
        return page("message", status, headers, background, heading=heading, text=text,
                    problem=status >= 400)

    def too_many(wait: float) -> HTMLResponse:
        seconds = retry_after(wait)
        minutes = -(-seconds // 60)
        when = "a minute" if minutes == 1 else f"{minutes} minutes"
        return message("Please wait a little",
                       "There have been several subscription requests from your connection "
                       f"in a short time. Please try again in {when}.",
                       429, headers={"Retry-After": str(seconds)})

    async def send_confirmation(name: str, cfg: EmailChannel, msg: EmailMessage,
                                ticket: ConfirmationClaim) -> None:
        sent = False
        try:
            client = await connect(cfg.smtp)
            try:
                await client.send_message(msg)
                sent = True
            finally:
                client.close()
        except Exception as exc:  # the reader can simply try again
            log.warning("digest %s: confirmation email not sent: %s", name, exc)
        if not sent:
            # Not sent, so it must not count: the reader's next try has to send one.
            store.release_confirmation(ticket)

    def channel_of(request: Request) -> tuple[str, EmailChannel] | None:
        name = request.path_params["channel"]
        cfg = config.channels.get(name)
        if isinstance(cfg, EmailChannel) and cfg.enabled:
            return name, cfg
        return None

    def claim(token: str, purpose: str) -> tuple[TokenClaim, Subscriber, EmailChannel] | None:
        found = read_token(secret, token, purpose)
        if found is None:
            return None
        cfg = config.channels.get(found.channel)
        sub = store.get_subscriber_by_id(found.subscriber_id)
        if not isinstance(cfg, EmailChannel) or sub is None or not names(found, sub):
            return None
        return found, sub, cfg

    async def subscribe_form(request: Request) -> Response:
        found = channel_of(request)
        if found is None:
            return message("Not found", "There is no such digest.", 404)
        _, cfg = found
        return page("subscribe", heading=f"Subscribe to {cfg.title}", action=request.url.path,
                    email="", error="")

    async def subscribe(request: Request) -> Response:
        found = channel_of(request)
        if found is None:
            return message("Not found", "There is no such digest.", 404)
        name, cfg = found
        now = clock()
        client = request.client
        who = client_key(client.host if client else None,
                         request.headers.getlist("x-forwarded-for"), proxies)
        wait = limiter.hit(who, now.timestamp())
        if wait:
            # debug: under a flood, one line per refused request would flood the log too
            log.debug("digest %s: subscribe requests from %s over the limit", name, who)
            return too_many(wait)
        form = await request.form()
        raw = str(form.get("email", ""))[:320]
        try:
            email = normalise_address(raw)
        except SubscriberError:
            return page("subscribe", 400, heading=f"Subscribe to {cfg.title}",
                        action=request.url.path, email=raw, error=_UNUSABLE)
        known = store.get_subscriber(name, email)
        sub, send = known, None
        if known is None or known.status in ("pending", "unsubscribed"):
            sub = store.subscribe(name, email, status="pending", now=now)
            ticket = store.claim_confirmation(sub.id, now=now, cooldown=limits.confirm_cooldown,
                                              per_day=limits.confirm_per_day)
            if ticket is not None:
                try:
                    msg = confirmation_for(config, env, secret, cfg, sub, now=now)
                except ValueError as exc:
                    # No header can carry the address (normalise_address should have said
                    # so): refuse, and keep nothing this request stored or used up.
                    log.warning("digest %s: cannot write a confirmation email to a new "
                                "address: %s", name, exc)
                    store.release_confirmation(ticket)
                    if known is None:
                        store.remove_subscriber(name, email)
                    return page("subscribe", 400, heading=f"Subscribe to {cfg.title}",
                                action=request.url.path, email=raw, error=_UNUSABLE)
                send = BackgroundTask(send_confirmation, name, cfg, msg, ticket)
        # The same answer whether the address is new, pending, already subscribed, or was
        # sent a confirmation a minute ago: the form must not tell who reads what.
        return message("Check your inbox",
                       f"If {email} can receive {cfg.title}, a confirmation email is on its "
                       "way. Open the link in it to start your subscription.",
                       background=send)

    def not_confirmable(found: TokenClaim, sub: Subscriber, cfg: EmailChannel
                        ) -> HTMLResponse | None:
        """The page for a confirmation link that can no longer subscribe anyone, or None.
        A reader who unsubscribed after the link was sent stays unsubscribed: only a new
        request from the form (a new link) brings them back."""
        if sub.status == "active":
            return message("Already confirmed", f"{sub.email} already receives {cfg.title}.")
        left = sub.unsubscribed_at
        if sub.status == "pending" and not (
                left is not None and found.issued < left.replace(microsecond=0)):
            return None
        again = f"{config.public_url.rstrip('/')}/subscribe/{sub.channel}"
        why = ("unsubscribed after this link was sent" if sub.status in ("unsubscribed",
                                                                          "pending")
               else "cannot receive email at the moment (messages to it bounced)")
        return message("Not subscribed",
                       f"{sub.email} does not receive {cfg.title}: the address {why}, so this "
                       f"link no longer subscribes it. To subscribe again, use the form at "
                       f"{again}.", 409)

    async def confirm_page(request: Request) -> Response:
        found = claim(request.path_params["token"], "confirm")
        if found is None:
            return message("Link not valid", _BAD_LINK, 400)
        token, sub, cfg = found
        answer = not_confirmable(token, sub, cfg)
        if answer is not None:
            return answer
        return page("confirm", heading=f"Confirm {cfg.title}", email=sub.email,
                    title=cfg.title, action=request.url.path)

    async def confirm(request: Request) -> Response:
        found = claim(request.path_params["token"], "confirm")
        if found is None:
            return message("Link not valid", _BAD_LINK, 400)
        token, sub, cfg = found
        answer = not_confirmable(token, sub, cfg)
        if answer is not None:
            return answer
        if not store.set_subscriber_status(sub.id, "active", now=clock(),
                                           allowed_from=("pending",)):
            # Changed since it was read (unsubscribed a moment ago, or confirmed twice):
            # say what the store now holds, never "Subscribed" on a hunch.
            now_sub = store.get_subscriber_by_id(sub.id)
            if now_sub is None:
                return message("Link not valid", _BAD_LINK, 400)
            return not_confirmable(token, now_sub, cfg) or message(
                "Not subscribed", f"{now_sub.email} does not receive {cfg.title}.", 409)
        return message("Subscribed", f"{sub.email} will receive {cfg.title}. Thank you!")

    def test_copy_link() -> HTMLResponse:
        return message("A test copy's link", "This is the unsubscribe link of a test copy "
                       "(newsbot digest send --to): it unsubscribes nobody. In the copies "
                       "readers get, it is their own link.")

    async def unsubscribe_page(request: Request) -> Response:
        if request.path_params["token"] == TEST_COPY_TOKEN:
            return test_copy_link()
        found = claim(request.path_params["token"], "unsubscribe")
        if found is None:
            return message("Link not valid", _BAD_LINK, 400)
        _, sub, cfg = found
        if sub.status == "unsubscribed":
            return message("Unsubscribed", f"{sub.email} no longer receives {cfg.title}.")
        return page("unsubscribe", heading=f"Unsubscribe from {cfg.title}", email=sub.email,
                    title=cfg.title, action=request.url.path)

    async def unsubscribe(request: Request) -> Response:
        if request.path_params["token"] == TEST_COPY_TOKEN:
            return test_copy_link()
        found = claim(request.path_params["token"], "unsubscribe")
        if found is None:
            return message("Link not valid", _BAD_LINK, 400)
        _, sub, cfg = found
        store.unsubscribe(sub.id, now=clock())
        log.info("digest %s: subscriber %d unsubscribed", sub.channel, sub.id)
        return message("Unsubscribed", f"{sub.email} will not receive {cfg.title} any more.")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(middleware=security_middleware(), routes=[
        Route("/subscribe/{channel}", subscribe_form, methods=["GET"]),
        Route("/subscribe/{channel}", subscribe, methods=["POST"]),
        Route("/confirm/{token}", confirm_page, methods=["GET"]),
        Route("/confirm/{token}", confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
        *(health_routes(get_service, metrics_access) if get_service is not None
          else [Route("/healthz", health, methods=["GET"])]),
        *_desk_routes(config, store, config_path, desk_hooks),
    ])


def _desk_routes(config: Config, store: Store, config_path: Path | None,
                 hooks: BotHooks | None) -> list[BaseRoute]:
    if config_path is None or not config.desk.enabled:
        return []
    from bot.desk.app import desk_routes
    from bot.desk.hooks import NO_BOT

    return desk_routes(config, store, config_path, hooks=hooks or NO_BOT)
