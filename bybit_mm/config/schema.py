"""The profile schema: frozen dataclasses whose field metadata carries help and constraints.

A profile is a TOML file with the sections below. Every key is optional (defaults apply);
an unknown section or key, a wrong type or an out-of-range value is a :class:`ConfigError`
that names the file and the dotted key.
"""

from __future__ import annotations

import math
import re
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, get_args, get_type_hints

from bybit_mm.errors import ConfigError, UsageError

NETWORKS = ("mainnet", "testnet", "demo", "emulator")
ACCOUNTS = ("live", "paper")
MARGIN_MODES = ("isolated", "cross")
MODELS = ("as", "glft")
PAPER_MARKETS = ("sim", "live")
QUEUE_MODELS = ("trade_through", "queue", "power", "log")
LATENCY_MODELS = ("constant", "lognormal")
#: Synthetic market presets (bybit_mm.sim.market.PRESETS); "auto": the symbol's own market.
SIM_PRESETS = ("auto", "deep-major", "thin-alt")

#: A linear USDT perpetual symbol as Bybit spells it.
SYMBOL = re.compile(r"^[A-Z0-9]{1,20}USDT$")


def opt(default: Any, help: str, *, choices: tuple[str, ...] | None = None, lo: float | None = None,
        hi: float | None = None, lo_open: bool = False, pattern: re.Pattern[str] | None = None,
        secret: bool = False) -> Any:
    """A profile field: its default, one line of help and its constraints."""
    return field(default=default, metadata={
        "help": help, "choices": choices, "lo": lo, "hi": hi, "lo_open": lo_open,
        "pattern": pattern, "secret": secret,
    })


@dataclass(frozen=True)
class ExchangeSettings:
    """Where orders and market data go, and where credentials come from."""

    network: str = opt("testnet", "mainnet | testnet | demo | emulator", choices=NETWORKS)
    account: str = opt("live", "live: the exchange account; paper: a simulated account in the data dir",
                       choices=ACCOUNTS)
    url: str = opt("", "base URL when network = \"emulator\" (e.g. http://127.0.0.1:8765)")
    api_key_env: str = opt("BYBIT_API_KEY", "environment variable holding the API key")
    api_secret_env: str = opt("BYBIT_API_SECRET", "environment variable holding the API secret")
    credentials_file: str = opt("", "TOML file with api_key and api_secret (mode 0600), used when the "
                                    "environment variables are unset")
    recv_window_ms: int = opt(5000, "Bybit recv window in milliseconds", lo=1000, hi=60000)
    timeout_s: float = opt(10.0, "HTTP timeout per request, seconds", lo=0.5, hi=120)
    max_retries: int = opt(4, "retries for transient failures (network, 5xx, rate limit)", lo=0, hi=10)
    dcp_window_s: int = opt(0, "live: Bybit's disconnect-cancel-all (DCP) window, 3 to 300 s; 0: off. Bybit "
                               "cancels every derivatives order once the run's private stream has been gone "
                               "this long (a killed run); the account needs DCP enabled by Bybit",
                            lo=0, hi=300)


@dataclass(frozen=True)
class MarketSettings:
    """The instrument traded and how the position is margined."""

    symbol: str = opt("BTCUSDT", "linear USDT perpetual symbol, e.g. BTCUSDT", pattern=SYMBOL)
    leverage: float = opt(50.0, "leverage (1 to the symbol's maximum)", lo=1, hi=200)
    margin_mode: str = opt("isolated", "isolated | cross", choices=MARGIN_MODES)


@dataclass(frozen=True)
class QuotingSettings:
    """The quoting model and its parameters."""

    model: str = opt("as", "as (Avellaneda-Stoikov, rolling horizon) | glft", choices=MODELS)
    risk_aversion: float = opt(0.005, "inventory risk aversion: the quotes skew risk_aversion x sigma^2 x "
                                       "horizon_s bps per 1,000 USDT of position (sigma in bps per root "
                                       "second; 0.01 at 1 bps/sqrt(s) and 300 s: 3 bps), the same in as "
                                       "and glft, whatever the order size", lo=0, lo_open=True, hi=100)
    horizon_s: float = opt(300.0, "horizon tau over which inventory risk is priced, seconds (A-S's rolling "
                                  "horizon; GLFT's skew is matched to it)", lo=0, lo_open=True, hi=86400)
    order_notional: float = opt(300.0, "size of each quote in USDT (rounded down to the qty step)",
                                lo=0, lo_open=True)
    vol_window_s: float = opt(300.0, "volatility estimator window, seconds", lo=1, hi=86400)
    intensity_window_s: float = opt(600.0, "arrival-intensity estimator window, seconds", lo=1, hi=86400)
    requote_ticks: int = opt(1, "amend a working quote when the target moves this many ticks", lo=0,
                             hi=10000)


@dataclass(frozen=True)
class RiskSettings:
    """Risk limits and liquidation protection."""

    liquidation_threshold: float = opt(0.8, "reduce when the distance to liquidation shrinks below "
                                            "(1 - threshold) of the distance at entry", lo=0,
                                       lo_open=True, hi=1)
    emergency_reduce_ratio: float = opt(0.5, "fraction of the position closed by an emergency reduce",
                                        lo=0, lo_open=True, hi=1)
    max_position_pct: float = opt(0.5, "margin cap: largest position as a fraction of balance x leverage "
                                       "(the quotes stop at the smaller of this and max_inventory_usdt)",
                                  lo=0, lo_open=True, hi=1)
    max_inventory_usdt: float = opt(1000.0, "strategy cap: largest |position| in USDT the quotes may build; "
                                            "beyond it the unwinding quote gives up its fee floor",
                                    lo=0, lo_open=True)
    max_drawdown_pct: float = opt(20.0, "kill switch: stop when equity falls this % below its peak",
                                  lo=0, lo_open=True, hi=100)
    stale_after_s: float = opt(5.0, "stop quoting when market data is older than this, seconds", lo=0,
                               lo_open=True, hi=3600)


@dataclass(frozen=True)
class PaperSettings:
    """The simulated account used when exchange.account = "paper" or by `bybit-mm paper`."""

    starting_balance: float = opt(10000.0, "starting wallet balance in USDT", lo=0, lo_open=True)
    fee_tier: str = opt("VIP0", "Bybit fee tier whose rates the paper account pays (see `bybit-mm fees`)")
    market: str = opt("sim", "sim: the built-in synthetic market; live: Bybit's public feed",
                      choices=PAPER_MARKETS)
    seed: int = opt(1, "seed of the synthetic market", lo=0)
    queue_model: str = opt("trade_through", "trade_through (conservative) | queue (random cancels ahead) | "
                                            "power | log (probabilistic, driven by depth)", choices=QUEUE_MODELS)
    latency_model: str = opt("constant", "constant: the latency keys every time; lognormal: draws with "
                                         "the keys as medians and latency_p99_ms", choices=LATENCY_MODELS)
    latency_ms: float = opt(100.0, "order-entry latency (place, amend, cancel): from sending a request to "
                                   "the exchange acting on it, milliseconds", lo=0, hi=10000)
    response_latency_ms: float = opt(100.0, "from the exchange acting on a request to the engine hearing the "
                                            "answer, milliseconds", lo=0, hi=10000)
    feed_latency_ms: float = opt(90.0, "from the exchange time of market data to the engine seeing it, "
                                       "milliseconds", lo=0, hi=10000)
    latency_p99_ms: float = opt(300.0, "lognormal: the 99th percentile of the order-entry latency (the "
                                       "other two keep the same p99/median ratio), milliseconds",
                                lo=0, hi=60000)


@dataclass(frozen=True)
class SimSettings:
    """The synthetic market of paper.market = "sim": a preset, and any of its parameters overridden.

    Every key but ``preset`` is unset by default (the preset's value applies); the README's
    "The synthetic market" lists the presets' values.
    """

    preset: str = opt("auto", "auto (the symbol's own market) | deep-major (BTCUSDT-like) | thin-alt (a "
                              "thinner alt on the ARBUSDT instrument; `paper --preset` also picks its symbol)",
                      choices=SIM_PRESETS)
    start_price: float | None = opt(None, "mid at the start of a fresh market, USDT", lo=0, lo_open=True)
    annual_vol: float | None = opt(None, "annualised volatility of the mid (0.5 = 50%)", lo=0, hi=20)
    jumps_per_day: float | None = opt(None, "mean number of price jumps per day", lo=0, hi=100_000)
    jump_sigma: float | None = opt(None, "standard deviation of a jump, as a fraction of the mid", lo=0, hi=1)
    spread_ticks: int | None = opt(None, "quoted spread in ticks", lo=1, hi=100_000)
    wide_spread_prob: float | None = opt(None, "chance per 100 ms step that the spread is 1-3 ticks wider",
                                         lo=0, hi=1)
    trades_per_second: float | None = opt(None, "market orders per second (each prints once per level it takes)",
                                          lo=0, hi=10_000)
    trade_notional_median: float | None = opt(None, "median market order, USDT (sizes are lognormal)", lo=0,
                                              lo_open=True)
    trade_size_sigma: float | None = opt(None, "log-sd of market order sizes (the size tail)", lo=0, hi=5)
    informed_share: float | None = opt(None, "share of market orders on the side of the mid's next move",
                                       lo=0, hi=1)
    informed_horizon_ms: int | None = opt(None, "how far ahead informed orders see the mid, milliseconds",
                                          lo=1, hi=60_000)
    touch_notional: float | None = opt(None, "mean size shown at the touch, USDT", lo=0, lo_open=True)
    depth_growth: float | None = opt(None, "growth of the shown size per level away from the touch",
                                     lo=0, hi=1_000)
    refill_per_s: float | None = opt(None, "rate at which size taken from the book comes back, per second",
                                     lo=0, lo_open=True, hi=1_000)

    def overrides(self) -> dict[str, Any]:
        """The parameters set in the profile (everything but ``preset`` that is not None)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "preset" and getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Profile:
    """A whole profile. ``name`` and ``path`` say where it came from; they are not TOML keys."""

    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    market: MarketSettings = field(default_factory=MarketSettings)
    quoting: QuotingSettings = field(default_factory=QuotingSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    paper: PaperSettings = field(default_factory=PaperSettings)
    sim: SimSettings = field(default_factory=SimSettings)
    name: str = field(default="", compare=False)
    path: str = field(default="", compare=False)
    #: One line per deprecated key read (what it was read as); the CLI prints them on stderr.
    deprecations: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_paper(self) -> bool:
        """True when the account is the local simulated one."""
        return self.exchange.account == "paper"


SECTIONS: dict[str, type] = {
    "exchange": ExchangeSettings,
    "market": MarketSettings,
    "quoting": QuotingSettings,
    "risk": RiskSettings,
    "paper": PaperSettings,
    "sim": SimSettings,
}


def section_fields(cls: type) -> dict[str, tuple[type, Any, dict[str, Any]]]:
    """Map each key of a section to (python type, default, metadata).

    A key typed ``X | None`` (unset by default) maps to ``X``: a value given must be an ``X``.
    """
    hints = get_type_hints(cls)
    out: dict[str, tuple[type, Any, dict[str, Any]]] = {}
    for f in fields(cls):
        default = f.default if f.default is not MISSING else None
        typ = hints[f.name]
        args = [a for a in get_args(typ) if a is not type(None)]
        out[f.name] = (args[0] if args else typ, default, dict(f.metadata))
    return out


def check_value(typ: type, value: Any, meta: dict[str, Any]) -> Any:
    """Check one value against a field type and its constraints; return it typed.

    The one validator of the project: profile files, ``profile set`` and command-line overrides
    all go through it. Raises :class:`Invalid` with what is wrong ("must be ..., got ..."); the
    caller adds where the value came from (a file and key, or an option).
    """
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise Invalid(f"must be {_type_name(typ)}, got {type(value).__name__} {value!r}")
    if typ is float and not math.isfinite(value):
        raise Invalid(f"must be a finite number, got {value!r}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise Invalid(f"must be one of {', '.join(choices)}, got {value!r}")
    pattern = meta.get("pattern")
    if pattern is not None and not pattern.match(value):
        raise Invalid(f"must be a linear USDT perpetual symbol like BTCUSDT, got {value!r}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
        bound = f"greater than {lo:g}" if meta.get("lo_open") else f"at least {lo:g}"
        raise Invalid(f"must be {bound}, got {value!r}")
    if hi is not None and value > hi:
        raise Invalid(f"must be at most {hi:g}, got {value!r}")
    return value


class Invalid(ValueError):
    """What is wrong with a value, without saying where it came from (see :func:`check_value`)."""


def coerce_value(where: str, key: str, typ: type, value: Any, meta: dict[str, Any]) -> Any:
    """:func:`check_value` for a profile value: a ConfigError naming the file and the key."""
    try:
        return check_value(typ, value, meta)
    except Invalid as e:
        raise ConfigError(f"{where}: {key} {e}") from None


def check_option(option: str, value: Any, typ: type = float, **constraints: Any) -> Any:
    """:func:`check_value` for a command-line option that is not a profile key (``--speed``).

    ``constraints`` are those of :func:`opt` (``lo``, ``hi``, ``lo_open``, ``choices``). A bad
    value is a UsageError naming the option.
    """
    try:
        return check_value(typ, value, constraints)
    except Invalid as e:
        raise UsageError(f"{option} {e}") from None


def with_overrides(profile: Profile, overrides: dict[str, tuple[str, Any]]) -> Profile:
    """``profile`` with command-line overrides: ``{"section.key": (option, value)}``.

    ``None`` values are skipped. Each value passes the same :func:`check_value` as the profile's
    own value; a bad one is a UsageError naming the option (``--risk-aversion must be greater than 0``).
    The deprecated ``quoting.gamma`` (``--gamma``) sets ``quoting.risk_aversion`` as
    :func:`migrate` reads it, at the profile's order_notional, and adds a deprecation note.
    """
    for key, (option, value) in overrides.items():
        if value is None:
            continue
        if key == "quoting.gamma":  # deprecated: the risk_aversion it stands for, with a note
            gamma = check_option(option, value, float, **section_fields(QuotingSettings)["risk_aversion"][2])
            ra = gamma_as_risk_aversion(gamma, profile.quoting.order_notional)
            profile = replace(with_value(profile, "quoting", "risk_aversion", ra), deprecations=(
                *profile.deprecations, f"{option} {gamma:g} is deprecated: read as --risk-aversion {ra:.6g} "
                                       f"(gamma x 1000 / order_notional {profile.quoting.order_notional:g})"))
            continue
        section, name = key.split(".")
        typ, _, meta = section_fields(SECTIONS[section])[name]
        profile = with_value(profile, section, name, check_option(option, value, typ, **meta))
    return profile


def _type_name(typ: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[typ]


def profile_from_dict(data: dict[str, Any], *, where: str, name: str = "", path: str = "") -> Profile:
    """Build a validated :class:`Profile` from parsed TOML; ``where`` names the file in errors."""
    sections: dict[str, Any] = {}
    data, notes = migrate(data, where)
    deprecations = [f"{note}; `bybit-mm profile migrate` rewrites it" for note in notes]
    for section, body in data.items():
        cls = SECTIONS.get(section)
        if cls is None:
            raise ConfigError(f"{where}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: {section} must be a table [{section}]")
        spec = section_fields(cls)
        values: dict[str, Any] = {}
        for key, value in body.items():
            if key not in spec:
                raise ConfigError(f"{where}: unknown key {section}.{key} "
                                  f"(known: {', '.join(spec)})")
            typ, _, meta = spec[key]
            values[key] = coerce_value(where, f"{section}.{key}", typ, value, meta)
        sections[section] = cls(**values)
    profile = Profile(**sections, name=name, path=path, deprecations=tuple(deprecations))
    _check_cross_field(profile, where)
    return profile


def migrate(data: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """Parsed TOML with deprecated keys replaced by their successors, and one note per key.

    ``quoting.gamma`` (risk aversion per order of ``order_notional`` USDT) becomes
    ``quoting.risk_aversion = gamma x 1000 / order_notional`` (the same A-S quotes; see
    :func:`gamma_as_risk_aversion`); when both are set, risk_aversion wins.
    """
    quoting = data.get("quoting")
    if not isinstance(quoting, dict) or "gamma" not in quoting:
        return data, []
    spec = section_fields(QuotingSettings)
    gamma = coerce_value(where, "quoting.gamma", float, quoting["gamma"], spec["risk_aversion"][2])
    notional = coerce_value(where, "quoting.order_notional", float,
                            quoting.get("order_notional", spec["order_notional"][1]), spec["order_notional"][2])
    body = {k: v for k, v in quoting.items() if k != "gamma"}
    if "risk_aversion" in quoting:
        note = (f"{where}: quoting.gamma is deprecated and ignored (quoting.risk_aversion is set); "
                f"remove it")
    else:
        body["risk_aversion"] = gamma_as_risk_aversion(gamma, notional)
        note = (f"{where}: quoting.gamma = {gamma:g} is deprecated: read as quoting.risk_aversion = "
                f"{body['risk_aversion']:.6g} (gamma x 1000 / order_notional {notional:g})")
    return {**data, "quoting": body}, [note]


def gamma_as_risk_aversion(gamma: float, order_notional: float) -> float:
    """The ``quoting.risk_aversion`` of a deprecated ``quoting.gamma`` at ``order_notional`` USDT,
    rounded to 6 significant digits (it is written into profiles).

    The old gamma was per order unit (``q = position / order_qty``); risk_aversion is per 1,000
    USDT (``q = position x mid / 1000``, :func:`bybit_mm.quoting.models.risk_quote`), so
    ``gamma q_old = risk_aversion q_new`` needs ``risk_aversion = gamma x 1000 / order_notional``;
    with ``Delta = order_notional / 1000`` the A-S spread's ``gamma Delta`` is the old gamma too,
    so the A-S quotes are the same. Worked example: gamma 0.01 at 100 USDT -> 0.1.
    """
    return float(f"{gamma * 1000.0 / order_notional:.6g}")


def _check_cross_field(profile: Profile, where: str) -> None:
    from bybit_mm.domain.fees import FEE_TIERS

    ex = profile.exchange
    if ex.network == "emulator" and not ex.url:
        raise ConfigError(f"{where}: exchange.url is required when exchange.network = \"emulator\"")
    if 0 < ex.dcp_window_s < 3:
        raise ConfigError(f"{where}: exchange.dcp_window_s must be 0 (off) or 3 to 300 seconds, "
                          f"got {ex.dcp_window_s}")
    if ex.url and not re.match(r"^https?://[^\s/]+", ex.url):
        raise ConfigError(f"{where}: exchange.url must be an http:// or https:// URL, got {ex.url!r}")
    if profile.paper.latency_model == "lognormal" and profile.paper.latency_p99_ms < profile.paper.latency_ms:
        raise ConfigError(f"{where}: paper.latency_p99_ms ({profile.paper.latency_p99_ms:g}) is below "
                          f"paper.latency_ms ({profile.paper.latency_ms:g}), its median")
    if profile.paper.fee_tier not in FEE_TIERS:
        raise ConfigError(f"{where}: paper.fee_tier must be one of {', '.join(FEE_TIERS)}, "
                          f"got {profile.paper.fee_tier!r}")


def profile_to_dict(profile: Profile) -> dict[str, dict[str, Any]]:
    """The TOML document of a profile (every key, defaults included; unset keys left out)."""
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        obj = getattr(profile, section)
        out[section] = {f.name: getattr(obj, f.name) for f in fields(obj) if getattr(obj, f.name) is not None}
    return out


def with_value(profile: Profile, section: str, key: str, value: Any) -> Profile:
    """A copy of ``profile`` with one key replaced (no validation; see profiles.set_value)."""
    return replace(profile, **{section: replace(getattr(profile, section), **{key: value})})
