"""`bybit-mm emulator`: a local Bybit V5 exchange (REST, linear) over the simulated market."""

from __future__ import annotations


import typer

from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError

DEFAULT_KEY = "emulator-key"  # kept equal to bybit_mm.emulator.config.DEFAULT_API_KEY (lazy import)
DEFAULT_SECRET = "emulator-secret"


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
                                           help="Order-entry latency inside the sim: an order cannot "
                                                "fill sooner (ms)."),
    rate_limits: bool = typer.Option(True, "--rate-limits/--no-rate-limits",
                                     help="Enforce Bybit's per-endpoint (10006) and per-IP (HTTP 403) "
                                          "rate limits; turn off for load tests."),
    queue_model: str = typer.Option("trade_through", "--queue-model",
                                    help="How resting orders fill: trade_through (conservative) or queue."),
    preset: str = typer.Option("", "--preset", show_default=False,
                               help="Synthetic market of every symbol: deep-major (BTCUSDT-like) or thin-alt "
                                    "(default: each symbol's own market)."),
    ws_drop_rate: float = typer.Option(0.0, "--ws-drop-rate", min=0.0, max=1.0,
                                       help="Chance, per WebSocket push, that the connection is dropped "
                                            "instead."),
    ws_delay_ms: float = typer.Option(0.0, "--ws-delay-ms", min=0.0,
                                      help="Added delay of every WebSocket message (ms)."),
) -> None:
    """Run a local Bybit V5 emulator (REST and WebSocket) over a synthetic market, for tests and dry runs.

    Prints `listening on http://HOST:PORT` once ready and serves until SIGINT/SIGTERM. Point a
    profile at it with network = "emulator" and url = that address (see profiles/emulator.toml);
    clients authenticate with --api-key / --api-secret exactly as with Bybit (HMAC-SHA256).
    """
    import asyncio
    import signal

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
        print(f"listening on {url}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve(state, config.host, config.port, on_listening=listening, stop=stop)
        except OSError as e:
            raise UsageError(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}",
                             hint="pick another --port (0 picks a free one)") from None

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    """Add `emulator` to the root app."""
    app.command("emulator")(emulator)
