"""The emulator's settings (what `bybit-mm emulator` options map to)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

#: Credentials the emulator accepts unless told otherwise. Not secret: it is a local test server.
DEFAULT_API_KEY = "emulator-key"
DEFAULT_API_SECRET = "emulator-secret"


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes one emulator instance."""

    host: str = "127.0.0.1"
    #: 0 picks a free port.
    port: int = 8765
    seed: int = 1
    symbols: tuple[str, ...] = ("BTCUSDT",)
    #: Simulated seconds per real second (the sim's WallClock speed).
    speed: float = 1.0
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    balance: Decimal = Decimal("10000")
    fee_tier: str = "VIP0"
    #: Fraction of requests (0..1) answered with an injected fault.
    fail_rate: float = 0.0
    #: Added latency (ms) before every response.
    latency_ms: float = 0.0
    #: Which faults to inject (see :mod:`bybit_mm.emulator.faults`).
    fault_kinds: tuple[str, ...] = ("http_5xx", "system_error", "rate_limit", "timeout")
    #: How long (ms) a "timeout" fault holds its response: longer than the client's timeout.
    fault_hold_ms: float = 15_000.0
    #: Order-entry latency inside the sim: a place, amend or cancel acts this long after it arrives.
    order_latency_ms: float = 0.0
    queue_model: str = "trade_through"
    #: Synthetic market preset of every listed symbol ("": each symbol's own; see sim.market.PRESETS).
    preset: str = ""
    #: Enforce Bybit's per-endpoint and per-IP rate limits.
    rate_limits: bool = True
    #: How often (real ms) the background task advances the sim between requests.
    tick_ms: float = 100.0
    #: Extra accepted credentials (key -> secret), e.g. for tests with several accounts.
    extra_credentials: dict[str, str] = field(default_factory=dict)
    #: WebSocket streams: chance (0..1), per pushed message, that the connection is dropped instead.
    ws_drop_rate: float = 0.0
    #: WebSocket streams: delay (real ms) added to every message the emulator sends.
    ws_delay_ms: float = 0.0
    #: WebSocket streams: how often (real ms) the publisher advances the sim and pushes what changed;
    #: no topic is pushed more often than Bybit pushes it (orderbook.50 every 20 ms, tickers 100 ms).
    ws_interval_ms: float = 20.0

    def __post_init__(self) -> None:
        from bybit_mm.sim.market import PRESETS

        if self.preset and self.preset not in PRESETS:
            raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if self.latency_ms < 0 or self.fault_hold_ms < 0 or self.order_latency_ms < 0:
            raise ValueError("latencies must be non-negative")
        if not 0.0 <= self.ws_drop_rate <= 1.0:
            raise ValueError("ws_drop_rate must be between 0 and 1")
        if self.ws_delay_ms < 0 or self.ws_interval_ms <= 0:
            raise ValueError("ws_delay_ms must be non-negative and ws_interval_ms positive")
        if self.speed < 0:
            raise ValueError("speed must be non-negative")
        unknown = set(self.fault_kinds) - {"http_5xx", "system_error", "rate_limit", "timeout"}
        if unknown or not self.fault_kinds:
            raise ValueError(f"fault kinds must be among http_5xx, system_error, rate_limit, timeout "
                             f"(got {', '.join(sorted(unknown)) or 'none'})")
        if not self.symbols:
            raise ValueError("at least one symbol is needed")
        if not self.api_key or not self.api_secret:
            raise ValueError("api key and secret must not be empty")

    def credentials(self) -> dict[str, str]:
        """Every accepted API key with its secret."""
        return {**self.extra_credentials, self.api_key: self.api_secret}
