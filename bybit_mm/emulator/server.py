"""The aiohttp application: one dispatcher in front of the endpoint table, and a sim ticker.

Per request, in order: added latency → IP rate limit (HTTP 403) → route lookup (HTTP 404) →
fault decision → authentication (10003/10002/10004) → per-endpoint rate limit (10006, with the
``X-Bapi-Limit*`` headers) → parameters → the sim, advanced to "now" first, under a lock → the
envelope. A fault decided "applied" lets the request run and then replaces its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bybit_mm.emulator.auth import Authenticator
from bybit_mm.emulator.config import EmulatorConfig
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.emulator.faults import Fault, FaultInjector
from bybit_mm.emulator.params import Params, parse_body
from bybit_mm.emulator.ratelimit import RateLimiter
from bybit_mm.emulator.routes import ROUTES, Route
from bybit_mm.emulator.wire import ApiError, envelope
from bybit_mm.emulator.ws import install as install_ws
from bybit_mm.sim.errors import SimError

if TYPE_CHECKING:
    from bybit_mm.domain.clock import Clock
    from bybit_mm.emulator.ws import WsHub
    from bybit_mm.sim.exchange import SimExchange

log = logging.getLogger(__name__)

RATE_LIMIT_MSG = "Too many visits. Exceeded the API Rate Limit."
SYSTEM_ERROR_MSG = "System error. Please try again later."


@dataclass
class EmulatorState:
    """Everything one running emulator shares between requests."""

    config: EmulatorConfig
    exchange: SimExchange
    #: Held while the sim is touched; tests driving ``exchange`` from another thread take it too.
    lock: threading.RLock
    auth: Authenticator
    limiter: RateLimiter
    faults: FaultInjector
    ctx: HandlerContext
    #: The WebSocket streams (set when the app is built; see :mod:`.ws`).
    ws: WsHub | None = None

    @property
    def clock(self) -> Clock:
        """The sim's clock."""
        return self.exchange.clock


STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)


def build_exchange(config: EmulatorConfig, clock: Clock) -> SimExchange:
    """The SimExchange a config describes, on ``clock``."""
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import MarketParams, synthetic_params

    instruments = [get_instrument(s) for s in config.symbols]
    markets = MarketParams(symbols={i.symbol: synthetic_params(i.symbol, i, config.preset or None)
                                    for i in instruments})
    return SimExchange(symbols=config.symbols, seed=config.seed, clock=clock, balance=config.balance,
                       fee_tier=config.fee_tier, queue_model=config.queue_model,
                       latency_ms=config.order_latency_ms, market_params=markets)


def default_clock(config: EmulatorConfig) -> Clock:
    """A WallClock at ``config.speed`` (a frozen SimClock at the current time for speed 0)."""
    from bybit_mm.emulator.auth import wall_ms
    from bybit_mm.sim.clock import SimClock, WallClock

    if config.speed == 0:
        return SimClock(wall_ms())
    return WallClock(speed=config.speed)


def build_state(config: EmulatorConfig, *, exchange: SimExchange | None = None,
                clock: Clock | None = None, lock: threading.RLock | None = None) -> EmulatorState:
    """The shared state; builds the SimExchange (on ``clock`` or a WallClock) unless given one."""
    if exchange is None:
        exchange = build_exchange(config, clock if clock is not None else default_clock(config))
    return EmulatorState(
        config=config,
        exchange=exchange,
        lock=lock or threading.RLock(),
        auth=Authenticator(config.credentials()),
        limiter=RateLimiter(enabled=config.rate_limits),
        faults=FaultInjector(config.fail_rate, config.seed, config.fault_kinds),  # type: ignore[arg-type]
        ctx=HandlerContext(exchange=exchange, config=config),
    )


def _json(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


def _error(state: EmulatorState, code: int, message: str, *, status: int = 200,
           headers: dict[str, str] | None = None) -> web.Response:
    return _json(envelope({}, state.clock.now_ms(), ret_code=code, ret_msg=message), status=status,
                 headers=headers)


async def _fault_response(state: EmulatorState, fault: Fault) -> web.Response:
    if fault.kind == "http_5xx":
        reason = {502: "Bad Gateway", 503: "Service Unavailable"}.get(fault.http_status, "Server Error")
        return web.Response(status=fault.http_status, text=f"<html><body><h1>{fault.http_status} "
                                                            f"{reason}</h1></body></html>",
                            content_type="text/html")
    if fault.kind == "system_error":
        return _error(state, 10016, SYSTEM_ERROR_MSG)
    if fault.kind == "rate_limit":
        return _error(state, 10006, RATE_LIMIT_MSG,
                      headers={"X-Bapi-Limit": "0", "X-Bapi-Limit-Status": "0",
                               "X-Bapi-Limit-Reset-Timestamp": str(state.clock.now_ms() + 1000)})
    # timeout: hold the answer past the client's patience, then answer as a gateway would.
    await asyncio.sleep(state.config.fault_hold_ms / 1000)
    return web.Response(status=504, text="<html><body><h1>504 Gateway Time-out</h1></body></html>",
                        content_type="text/html")


async def _handle(state: EmulatorState, route: Route, request: web.Request) -> web.Response:
    headers: dict[str, str] = {}
    try:
        if request.method == "POST":
            raw = await request.text()
            data: dict[str, Any] = parse_body(raw)
        else:
            raw = request.rel_url.raw_query_string
            data = {k: v for k, v in request.query.items()}
        api_key = ""
        if route.private:
            api_key = state.auth.verify(request.headers, raw)
            status = state.limiter.check_endpoint(api_key, route.method, request.path)
            headers = status.headers()
            if not status.allowed:
                raise ApiError(10006, RATE_LIMIT_MSG)
        params = Params(data, api_key=api_key)
        with state.lock:
            state.exchange.advance()
            result = route.handler(state.ctx, params)
            now = state.clock.now_ms()
        return _json(envelope(result, now), headers=headers)
    except ApiError as e:
        return _error(state, e.ret_code, e.message, status=e.http_status, headers=headers)
    except SimError as e:
        return _error(state, e.ret_code, e.message, headers=headers)


async def dispatch(request: web.Request) -> web.Response:
    """Every request enters here."""
    state = request.app[STATE_KEY]
    if state.config.latency_ms:
        await asyncio.sleep(state.config.latency_ms / 1000)
    if not state.limiter.check_ip(request.remote or "").allowed:
        return web.Response(status=403, text="403 Forbidden: access too frequent")
    route = ROUTES.get(request.path)
    if route is None or route.method != request.method:
        return web.Response(status=404, text="404 page not found")
    fault = state.faults.decide(mutating=route.mutating)
    if fault is not None and not fault.applied:
        return await _fault_response(state, fault)
    response = await _handle(state, route, request)
    if route.mutating and state.ws is not None:
        state.ws.wake()
    if fault is not None:
        return await _fault_response(state, fault)
    return response


async def _ticker(state: EmulatorState) -> None:
    """Advance the sim between requests, so fills and liquidations happen on their own."""
    interval = max(state.config.tick_ms, 1.0) / 1000
    while True:
        await asyncio.sleep(interval)
        try:
            with state.lock:
                state.exchange.advance()
        except Exception:  # a bug in the sim must not kill the server silently
            log.exception("sim advance failed")


def build_app(state: EmulatorState, *, background: bool = True) -> web.Application:
    """The aiohttp application serving Bybit V5 over ``state``."""
    app = web.Application(client_max_size=1 << 20)
    app[STATE_KEY] = state
    install_ws(app, state)  # the WebSocket paths first: the catch-all below would take them
    app.router.add_route("*", "/{tail:.*}", dispatch)
    if background:
        async def ticker_ctx(app: web.Application):  # type: ignore[no-untyped-def]
            task = asyncio.create_task(_ticker(state))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app.cleanup_ctx.append(ticker_ctx)
    return app


async def start(state: EmulatorState, host: str, port: int, *, background: bool = True
                ) -> tuple[web.AppRunner, str]:
    """Start serving; returns the runner (for ``cleanup()``) and the base URL actually bound."""
    runner = web.AppRunner(build_app(state, background=background), access_log=None,
                           shutdown_timeout=0.5, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    bound_port = addresses[0][1] if addresses else port
    url_host = f"[{host}]" if ":" in host else host
    return runner, f"http://{url_host}:{bound_port}"


async def serve(state: EmulatorState, host: str, port: int, *, on_listening: Callable[[str], None],
                stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; ``on_listening(url)`` runs once the socket is bound."""
    runner, url = await start(state, host, port)
    try:
        on_listening(url)
        await stop.wait()
    finally:
        await runner.cleanup()

