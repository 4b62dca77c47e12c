"""`bybit-mm emulator`: a local Bybit V5 exchange (REST, linear) over the simulated market."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError

if TYPE_CHECKING:
    import asyncio

DEFAULT_KEY = "emulator-key"  # kept equal to bybit_mm.emulator.config.DEFAULT_API_KEY (lazy import)
DEFAULT_SECRET = "emulator-secret"
#: Seconds a stop (SIGINT/SIGTERM) may take to close connections before the process just exits:
#: a sim running far faster than real time can keep the event loop busy for many seconds.
STOP_GRACE_S = 2.0


def _symbols(raw: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in raw.split(",") if s.strip())
    if not symbols:
        raise UsageError("--symbols needs at least one symbol, e.g. BTCUSDT,ETHUSDT")
    return symbols


def emulator(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port; 0 picks a free one."),
    seed: int = typer.Option(1, "--seed", help="Seed of the synthetic market (same seed, same tape)."),
    symbols: str = typer.Option("BTCUSDT", "--symbols", metavar="SYM[,SYM...]",
                                help="Comma-separated linear perpetuals to list, e.g. BTCUSDT,ETHUSDT."),
    speed: float = typer.Option(1.0, "--speed", min=0.0,
                                help="Simulated seconds per real second (0 freezes the market)."),
    api_key: str = typer.Option(DEFAULT_KEY, "--api-key", envvar="BYBIT_EMU_API_KEY",
                                help="API key clients must sign with (env BYBIT_EMU_API_KEY)."),
    api_secret: str = typer.Option(DEFAULT_SECRET, "--api-secret", envvar="BYBIT_EMU_API_SECRET",
                                   show_default=False,
                                   help="API secret clients must sign with (env BYBIT_EMU_API_SECRET; "
                                        "default 'emulator-secret')."),
    balance: str = typer.Option("10000", "--balance", metavar="USDT", help="Starting USDT wallet balance."),
    fee_tier: str = typer.Option("VIP0", "--fee-tier", help="Fee tier of the account (see `bybit-mm fees`)."),
    fail_rate: float = typer.Option(0.0, "--fail-rate", min=0.0, max=1.0,
                                    help="Fraction of requests answered with an injected fault "
                                         "(HTTP 5xx, retCode 10016 or 10006, or a timeout)."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0.0, help="Added latency per response (ms)."),
    order_latency_ms: float = typer.Option(0.0, "--order-latency-ms", min=0.0,
                                           help="Order-entry latency inside the sim: a place, amend or "
                                                "cancel acts this long after it is received (ms)."),
    rate_limits: bool = typer.Option(True, "--rate-limits/--no-rate-limits",
                                     help="Enforce Bybit's per-endpoint (10006) and per-IP (HTTP 403) "
                                          "rate limits; turn off for load tests."),
    queue_model: str = typer.Option("trade_through", "--queue-model",
                                    help="How resting orders fill: trade_through (conservative), queue, power or log."),
    preset: str = typer.Option("", "--preset", show_default=False,
                               help="Synthetic market of every symbol: deep-major (BTCUSDT-like) or thin-alt "
                                    "(default: each symbol's own market)."),
    ws_drop_rate: float = typer.Option(0.0, "--ws-drop-rate", min=0.0, max=1.0,
                                       help="Chance, per WebSocket push, that the connection is dropped "
                                            "instead."),
    ws_delay_ms: float = typer.Option(0.0, "--ws-delay-ms", min=0.0,
                                      help="Added delay of every WebSocket message (ms)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print one JSON line instead of `listening on URL`: url, host, port, "
                                      "ws_public, ws_private, symbols, seed, speed, api_key, pid."),
) -> None:
    """Run a local Bybit V5 emulator (REST and WebSocket) over a synthetic market, for tests and dry runs.

    Prints `listening on http://HOST:PORT` (or, with --json, one JSON line) once ready and
    serves until SIGINT/SIGTERM (exit 0 within a few seconds, even with a fast --speed). Point a
    profile at it with network = "emulator" and url = that address (see profiles/emulator.toml);
    clients authenticate with --api-key / --api-secret exactly as with Bybit (HMAC-SHA256).
    """
    import asyncio
    import os

    from bybit_mm.emulator.config import EmulatorConfig
    from bybit_mm.emulator.server import build_state, serve

    try:
        config = EmulatorConfig(host=host, port=port, seed=seed, symbols=_symbols(symbols), speed=speed,
                                api_key=api_key, api_secret=api_secret, balance=parse_decimal("--balance", balance, non_negative=True, unit="USDT"),
                                fee_tier=fee_tier, fail_rate=fail_rate, latency_ms=latency_ms,
                                order_latency_ms=order_latency_ms, queue_model=queue_model, preset=preset,
                                rate_limits=rate_limits, ws_drop_rate=ws_drop_rate,
                                ws_delay_ms=ws_delay_ms)
    except ValueError as e:
        raise UsageError(str(e)) from None
    state = build_state(config)

    def listening(url: str) -> None:
        if not as_json:
            print(f"listening on {url}", flush=True)
            return
        from bybit_mm.emulator.runner import _ws_base
        from bybit_mm.emulator.ws_wire import PRIVATE_PATH, PUBLIC_PATH
        from bybit_mm.ui.console import to_json

        bound = int(url.rsplit(":", 1)[1])
        print(to_json({"url": url, "host": config.host, "port": bound,
                       "ws_public": _ws_base(url) + PUBLIC_PATH, "ws_private": _ws_base(url) + PRIVATE_PATH,
                       "symbols": list(config.symbols), "seed": config.seed, "speed": config.speed,
                       "api_key": config.api_key, "pid": os.getpid()}, indent=None), flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(asyncio.get_running_loop(), stop)
        try:
            await serve(state, config.host, config.port, on_listening=listening, stop=stop)
        except OSError as e:
            raise UsageError(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}",
                             hint="pick another --port (0 picks a free one)") from None

    asyncio.run(main())


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM: a clean stop, and an exit (status 0) anyway after :data:`STOP_GRACE_S`.

    Python-level handlers, not ``loop.add_signal_handler``: those run only when the event loop
    gets a turn, which a sim catching up at a high ``--speed`` can deny it for many seconds. These
    run in the main thread between two bytecodes, wherever it is. A second signal exits at once.
    """
    import os
    import signal
    import sys
    import threading

    asked: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if asked:
            os._exit(0)
        asked.append(signum)
        loop.call_soon_threadsafe(stop.set)

        def give_up() -> None:
            sys.stdout.flush()
            os._exit(0)  # the emulator keeps nothing on disk: there is nothing left to save

        timer = threading.Timer(STOP_GRACE_S, give_up)
        timer.daemon = True
        timer.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def register(app: typer.Typer) -> None:
    """Add `emulator` to the root app."""
    app.command("emulator")(emulator)
