"""``/healthz`` and ``/metrics`` on the bot's web server, for load balancers and Prometheus.

``/healthz`` answers 200 when the store answers a query and the scheduler ticked recently,
503 otherwise (a load balancer or ``docker compose``/systemd watchdog can restart on that).
A channel that needs a person (paused, bad token, preview) is listed but does not make the
bot unhealthy: restarting would not fix it.

The server usually faces the internet (the subscribe pages), so anyone may ask: they get
the coarse view only (status, store ok, scheduler alive). The detail (worker host:pid,
leader, each channel's state with the platforms' own words, the store's error) goes only to
a request from this machine itself (a loopback peer, with no proxy's forwarding headers and
not listed in ``web.trusted_proxies``, since a reverse proxy on this machine would relay the
world from loopback); ``newsbot status``
shows the same from the store.

``/metrics`` names the sources and channels, so it answers only this machine (the same rule)
or a scraper showing the operator's bearer token (bot.web.metrics_access).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.errors import StoreError
from bot.outlets import channel_views, preview_reason
from bot.web.metrics_access import REFUSAL, REFUSAL_HEADERS, MetricsAccess
from bot.web.ratelimit import Network, parse_networks

if TYPE_CHECKING:
    from bot.config import Config
    from bot.outlets import Outlet
    from bot.store import Store


class RunningBot(Protocol):
    """What the health and metrics pages read from the running bot (``bot.scheduler``'s
    Service is one). The web layer sees only this, never the scheduler itself."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store: ...
    @property
    def outlets(self) -> dict[str, Outlet]: ...
    @property
    def held(self) -> dict[str, str]: ...  # channel → why this worker holds it
    @property
    def dry_run(self) -> bool: ...
    @property
    def worker(self) -> str: ...
    @property
    def is_leader(self) -> bool: ...
    @property
    def last_tick(self) -> datetime | None: ...


GetService = Callable[[], RunningBot | None]

#: The scheduler ticks every 15 s (poll) and every dispatch_every (dispatch); a tick older
#: than this means the event loop or the scheduler is stuck.
STALE_AFTER = timedelta(minutes=2)
STORE_TIMEOUT = 5.0  # seconds for the store's answer


def stale_after(service: RunningBot) -> timedelta:
    """How old the last tick may be before the scheduler counts as stuck."""
    return max(STALE_AFTER, service.config.dispatch_every * 4)


def health_report(service: RunningBot | None, *, now: datetime | None = None,
                  states: dict[str, Any] | None = None,
                  store_error: str = "") -> tuple[bool, dict[str, Any]]:
    """(healthy, the JSON body) from what the caller read; pure, for tests."""
    now = now or datetime.now(UTC)
    if service is None:
        return False, {"status": "unhealthy", "problems": ["the scheduler is not running"]}
    problems: list[str] = []
    store = {"ok": not store_error, "dialect": service.store.dialect}
    if store_error:
        store["error"] = store_error
        problems.append(f"store unreachable: {store_error}")
    tick = service.last_tick
    limit = stale_after(service)
    age = (now - tick).total_seconds() if tick is not None else None
    alive = age is not None and age <= limit.total_seconds()
    if tick is None:
        problems.append("the scheduler has not ticked yet")
    elif not alive:
        problems.append(f"the scheduler last ticked {age:.0f}s ago (limit "
                        f"{limit.total_seconds():.0f}s)")
    channels: dict[str, Any] = {}
    views = channel_views(service.config, service.outlets, states or {},
                          dry_run=service.dry_run, held=service.held)
    for name in service.config.channels:
        state = (states or {}).get(name)
        outlet = service.outlets.get(name)
        view = views[name]
        channels[name] = {
            "mode": view.mode,
            # An editor's pause, or held by this worker (missing credentials, failed check)
            "paused": bool(state and state.paused) or bool(outlet and outlet.attention),
            "attention": (outlet.attention if outlet and outlet.attention else
                          state.attention if state else
                          view.why if view.mode == "needs attention" else ""),
            "preview": outlet.preview_reason if outlet else preview_reason(
                service.config, name, dry_run=service.dry_run),
        }
    healthy = not problems
    return healthy, {
        "status": "ok" if healthy else "unhealthy",
        "problems": problems,
        "worker": service.worker,
        "leader": service.is_leader,
        "store": store,
        "scheduler": {"alive": alive,
                      "last_tick": tick.isoformat() if tick else None,
                      "seconds_since_tick": round(age, 1) if age is not None else None},
        "channels": channels,
    }


#: Headers a reverse proxy adds: a request carrying one came from elsewhere, whatever its peer.
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")


def asked_from_this_machine(request: Request, proxies: Sequence[Network] = ()) -> bool:
    """True for a loopback peer that no proxy relayed (an operator's curl, a local watchdog).

    A peer in ``proxies`` (``web.trusted_proxies``) relays others even when it adds no
    forwarding header (nginx's ``proxy_pass`` adds none unless told to).
    """
    if any(name in request.headers for name in _FORWARDING):
        return False
    peer = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(peer.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in proxies):
        return False
    return address.is_loopback


def public_view(body: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a health report: whether the bot works, not who or why."""
    public: dict[str, Any] = {"status": body["status"]}
    if "store" in body:
        public["store"] = {"ok": body["store"]["ok"]}
    if "scheduler" in body:
        public["scheduler"] = {"alive": body["scheduler"]["alive"]}
    public["detail"] = ("ask from the bot's own machine (curl http://127.0.0.1:<web.port>"
                        "/healthz) or run `newsbot status`")
    return public


def health_app(get_service: GetService, access: MetricsAccess | None = None) -> Starlette:
    """An app serving only ``health_routes`` (when the readers' pages cannot be served)."""
    from bot.web.headers import security_middleware

    return Starlette(middleware=security_middleware(),
                     routes=health_routes(get_service, access))


def health_routes(get_service: GetService,
                  access: MetricsAccess | None = None) -> list[Route]:
    """``GET /healthz`` (JSON, 200 or 503) and ``GET /metrics`` (Prometheus text format).

    ``get_service`` returns the running bot (or None before it started); it is
    called per request, so a reload that swaps the configuration is seen at once.
    ``access`` says who else may scrape /metrics (default: what the environment says,
    read now, when the app is built at start-up).
    """
    metrics_access = access if access is not None else MetricsAccess.from_environ()

    def from_here(request: Request, service: RunningBot | None) -> bool:
        proxies = parse_networks(service.config.web.trusted_proxies) if service else ()
        return asked_from_this_machine(request, proxies)

    async def healthz(request: Request) -> Response:
        service = get_service()
        states: dict[str, Any] | None = None
        error = ""
        if service is not None:
            try:
                states = await asyncio.wait_for(
                    asyncio.to_thread(service.store.channel_states), STORE_TIMEOUT)
            except TimeoutError:
                error = f"no answer within {STORE_TIMEOUT:g}s"
            except StoreError as exc:  # names the store and the driver's words
                error = (str(exc).splitlines() or [""])[0][:300]
            except Exception as exc:  # a bug: report it, do not crash
                first_line = (str(exc).splitlines() or [""])[0][:200]
                error = f"{type(exc).__name__}: {first_line}"
        healthy, body = health_report(service, states=states, store_error=error)
        if not from_here(request, service):
            body = public_view(body)
        return JSONResponse(body, status_code=200 if healthy else 503,
                            headers={"Cache-Control": "no-store"})

    async def metrics_endpoint(request: Request) -> Response:
        service = get_service()
        if not metrics_access.admits(local=from_here(request, service),
                                     authorization=request.headers.get("authorization", "")):
            return PlainTextResponse(REFUSAL, status_code=401, headers=REFUSAL_HEADERS)
        if service is None:
            return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
        extra = _service_families(service)
        channels = list(service.config.channels)
        try:
            body = await asyncio.wait_for(asyncio.to_thread(
                metrics.exposition, service.store, channels, [*extra, _store_up(1)]),
                STORE_TIMEOUT)
        except Exception:  # the store is down: the counters are still worth scraping
            body = metrics.exposition(None, (), [*_service_families(service), _store_up(0)])
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]


def _store_up(value: int) -> Metric:
    family = GaugeMetricFamily("newsbot_store_up", "1 when the store answered this scrape")
    family.add_metric([], value)
    return family


def _service_families(service: RunningBot) -> list[Metric]:
    leader = GaugeMetricFamily("newsbot_leader", "1 when this worker holds the poll lease")
    leader.add_metric([], 1 if service.is_leader else 0)
    tick = GaugeMetricFamily("newsbot_scheduler_last_tick_timestamp_seconds",
                             "When the scheduler last ticked (Unix time)")
    tick.add_metric([], service.last_tick.timestamp() if service.last_tick else 0)
    return [leader, tick]
