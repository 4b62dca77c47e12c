"""``BybitFuturesClient``: the live adapter of the port, over ccxt (mainnet, testnet, demo, emulator).

The only module in bybit_mm that imports ccxt, and only inside functions. It talks Bybit V5
through ccxt's implicit endpoint methods (``public_get_v5_market_tickers`` …) so the payloads
are Bybit's documented ones and parsing stays here, into the port's dataclasses; ccxt supplies
the HTTP session, request signing, its rate limiter and the first classification of errors.

Failures are translated once, at this edge (``raise … from e``, Bybit's retCode kept). Transient
ones (network, timeouts, HTTP 5xx, 10016, 10006 and 10002 after a clock resync) are retried with
exponential backoff and jitter, up to ``max_retries``. A create is only ever re-sent with the same
``orderLinkId``: after an ambiguous failure (timeout, 5xx) the order is first looked up by that id,
and a 110072 "duplicate" answer to a re-send means the first attempt did create it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bybit_mm.domain.orders import Side
from bybit_mm.errors import (
    AuthError,
    BybitMMError,
    ExchangeUnavailable,
    InsufficientMargin,
    OrderRejected,
    RateLimited,
    UsageError,
)
from bybit_mm.exchange import errors as codes
from bybit_mm.exchange.errors import OrderNotFound, error_for_ret_code
from bybit_mm.exchange.port import (
    Balance,
    Execution,
    FeeRates,
    MarginMode,
    OrderBook,
    OrderInfo,
    OrderStatus,
    OrderType,
    PositionInfo,
    PublicTrade,
    Ticker,
    TimeInForce,
    exec_type_from_bybit,
)
from bybit_mm.exchange.retry import Backoff

if TYPE_CHECKING:
    from bybit_mm.config.schema import Profile
    from bybit_mm.config.secrets import Credentials
    from bybit_mm.domain.instruments import Instrument

log = logging.getLogger(__name__)

NETWORK_HOSTS = {"mainnet": "api.bybit.com", "testnet": "api-testnet.bybit.com", "demo": "api-demo.bybit.com"}
OFFLINE_HINT = "check the network connection; `bybit-mm --profile paper ...` with the simulated market works offline"

_STATUS: dict[str, OrderStatus] = {
    "New": "new", "Created": "new", "Untriggered": "new", "Triggered": "new",
    "PartiallyFilled": "partially_filled", "Filled": "filled",
    "Cancelled": "cancelled", "PartiallyFilledCanceled": "cancelled", "Deactivated": "cancelled",
    "Rejected": "rejected",
}
_RET_CODE_RE = re.compile(r'"retCode"\s*:\s*"?(-?\d+)')
_RET_MSG_RE = re.compile(r'"retMsg"\s*:\s*"([^"]*)"')


def _dec(value: Any, default: Decimal | None = Decimal(0)) -> Decimal | None:
    if value is None or value == "":
        return default
    return Decimal(str(value))


def _dec0(value: Any) -> Decimal:
    out = _dec(value, Decimal(0))
    assert out is not None
    return out


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _lazy_package(name: str, early: Callable[[str], Any] | None = None) -> ModuleType:
    """``name`` (a ccxt package) in ``sys.modules`` without running its ``__init__`` yet.

    ccxt's ``__init__`` modules import every exchange ccxt has (about 100 sync and 100 async, half
    a second or more), though we use one. The package object is created empty; its submodules
    import as usual, and the first attribute it lacks (``early`` may answer some cheaply) runs the
    real ``__init__`` into it, so any other code that needs all of ccxt still gets all of it.
    """
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if early is not None:
            try:
                return early(attr)
            except AttributeError:
                pass
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, attr)

    module.__dict__["__getattr__"] = complete
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)  # what the import system does for a submodule
    return module


def _ccxt_early(attr: str) -> Any:
    # What ccxt's own base modules import from the package: its error classes and Exchange.
    if attr == "Exchange":
        return importlib.import_module("ccxt.base.exchange").Exchange
    return getattr(importlib.import_module("ccxt.base.errors"), attr)


def ccxt_errors() -> ModuleType:
    """``ccxt.base.errors`` (ccxt's exception classes), without importing every exchange."""
    _lazy_package("ccxt", _ccxt_early)
    return importlib.import_module("ccxt.base.errors")


def import_ccxt_bybit() -> Any:
    """ccxt's async ``bybit`` class, importing only its own modules (not ccxt's other exchanges)."""
    _lazy_package("ccxt", _ccxt_early)
    package = _lazy_package("ccxt.async_support")
    module = importlib.import_module("ccxt.async_support.bybit")
    if isinstance(package.__dict__.get("bybit"), ModuleType):
        package.bybit = module.bybit  # as ccxt's __init__ does (ccxt.pro subclasses it by that name)
    return module.bybit


def import_ccxt_pro_bybit() -> Any:
    """ccxt.pro's ``bybit`` class (WebSocket streams), again without ccxt's other exchanges."""
    import_ccxt_bybit()
    package = _lazy_package("ccxt.pro")
    module = importlib.import_module("ccxt.pro.bybit")
    if isinstance(package.__dict__.get("bybit"), ModuleType):
        package.bybit = module.bybit
    return module.bybit


@dataclass
class _Failure(Exception):
    """One failed attempt, classified."""

    error: BybitMMError
    transient: bool
    #: The request may have been applied (timeout, 5xx): look before re-sending a create.
    ambiguous: bool = False
    ret_code: int | None = None
    reset_at_ms: int | None = None
    clock_skew: bool = False


class BybitFuturesClient:
    """The port over Bybit V5 via ccxt; build it with :meth:`from_profile`."""

    def __init__(self, *, network: str, api_key: str = "", api_secret: str = "", url: str = "",
                 recv_window_ms: int = 5000, timeout_s: float = 10.0, max_retries: int = 4,
                 backoff: Backoff | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if network not in ("mainnet", "testnet", "demo", "emulator"):
            raise UsageError(f"unknown network {network!r}")
        if network == "emulator" and not url:
            raise UsageError("the emulator network needs a URL")
        self.network = network
        self._secrets = [s for s in (api_key, api_secret) if s]
        self._backoff = backoff or Backoff(max_retries=max_retries)
        self._sleep = sleep
        self._instruments: dict[str, Instrument] = {}
        self._last_time_ms = 0
        ex = import_ccxt_bybit()({
            "apiKey": api_key,
            "secret": api_secret,
            "enableRateLimit": True,
            "timeout": int(timeout_s * 1000),
            "options": {
                "defaultType": "swap",
                "recvWindow": recv_window_ms,
                "fetchMarkets": {"types": ["linear"]},
                "enableUnifiedMargin": False,
                "enableUnifiedAccount": True,
            },
        })
        ex.has["fetchCurrencies"] = False
        if network == "testnet":
            ex.set_sandbox_mode(True)
        elif network == "demo":
            if hasattr(ex, "enable_demo_trading"):
                ex.enable_demo_trading(True)
            else:  # older ccxt: point every REST base at the demo host
                for k in ex.urls["api"]:
                    ex.urls["api"][k] = "https://api-demo.bybit.com"
        elif network == "emulator":
            base = url.rstrip("/")
            # Mutate in place: replacing the dict would lose entries ccxt.pro needs.
            for k in ex.urls["api"]:
                ex.urls["api"][k] = base
        self._ex = ex
        self._host = urlsplit(url).netloc if network == "emulator" else NETWORK_HOSTS[network]

    @classmethod
    def from_profile(cls, profile: Profile, credentials: Credentials | None = None, *,
                     backoff: Backoff | None = None, public_only: bool = False) -> BybitFuturesClient:
        """Build from a profile; ``credentials`` default to the profile's (env vars or file).

        ``public_only``: no credentials at all (market data needs none; private calls then fail
        with AuthError), e.g. the feed of a paper account.
        """
        from bybit_mm.config.secrets import Credentials, resolve_credentials

        ex = profile.exchange
        if public_only:
            creds = Credentials("", "", source="none (public market data only)")
        else:
            creds = credentials if credentials is not None else resolve_credentials(profile)
        return cls(network=ex.network, api_key=creds.api_key, api_secret=creds.api_secret, url=ex.url,
                   recv_window_ms=ex.recv_window_ms, timeout_s=ex.timeout_s, max_retries=ex.max_retries,
                   backoff=backoff or Backoff(max_retries=ex.max_retries))

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def is_mainnet(self) -> bool:
        """True on Bybit mainnet (real money)."""
        return self.network == "mainnet"

    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            if len(s) >= 4:
                text = text.replace(s, "***")
        return text

    def _classify(self, e: Exception) -> _Failure:
        """Translate a ccxt exception into our tree (the one place that knows ccxt's classes)."""
        ccxt = ccxt_errors()

        raw = self._scrub(str(e))
        e.args = (raw,)  # keep secrets out of any chained traceback
        m = _RET_CODE_RE.search(raw)
        if m is not None and int(m.group(1)) != 0:
            ret_code = int(m.group(1))
            msg_m = _RET_MSG_RE.search(raw)
            err = error_for_ret_code(ret_code, msg_m.group(1) if msg_m else "")
            reset = self._reset_at_ms() if ret_code in codes.RATE_LIMIT_CODES else None
            return _Failure(err, codes.is_transient(ret_code), ambiguous=ret_code == codes.SERVER_ERROR,
                            ret_code=ret_code, reset_at_ms=reset,
                            clock_skew=ret_code == codes.TIMESTAMP_EXPIRED)
        where = f"{self.network}, {self._host}"
        if isinstance(e, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
            return _Failure(AuthError(f"Bybit refused the API key ({where})",
                                      hint="check the key, the secret and its permissions"), False)
        if isinstance(e, ccxt.DDoSProtection):  # includes RateLimitExceeded (HTTP 403/429)
            return _Failure(RateLimited(f"Bybit rate limit exceeded ({where})", hint="wait and retry"),
                            True, reset_at_ms=self._reset_at_ms())
        if isinstance(e, ccxt.InvalidNonce):
            return _Failure(ExchangeUnavailable("request timestamp rejected",
                                                hint="check that this machine's clock is synchronised"),
                            True, clock_skew=True)
        if isinstance(e, ccxt.RequestTimeout):
            return _Failure(ExchangeUnavailable(f"Bybit did not answer in time ({where})", hint=OFFLINE_HINT),
                            True, ambiguous=True)
        if isinstance(e, ccxt.NetworkError):
            if isinstance(e.__cause__, OSError):
                err = ExchangeUnavailable(f"cannot reach Bybit ({where})", hint=OFFLINE_HINT)
                return _Failure(err, True, ambiguous=False)
            status = re.search(r"\s(5\d\d)\s", raw)
            text = f"Bybit answered HTTP {status.group(1)}" if status else "Bybit is unavailable"
            return _Failure(ExchangeUnavailable(f"{text} ({where})", hint="retry later"), True, ambiguous=True)
        if isinstance(e, ccxt.InsufficientFunds):
            return _Failure(InsufficientMargin("insufficient margin"), False)
        if isinstance(e, ccxt.OrderNotFound):
            return _Failure(OrderNotFound("order not found"), False)
        if isinstance(e, (ccxt.BadRequest, ccxt.BadSymbol, ccxt.ArgumentsRequired)):
            return _Failure(UsageError("Bybit rejected the request parameters"), False)
        if isinstance(e, ccxt.InvalidOrder):
            return _Failure(OrderRejected("Bybit rejected the order"), False)
        return _Failure(OrderRejected(f"Bybit rejected the request ({type(e).__name__})"), False)

    def _reset_at_ms(self) -> int | None:
        headers = getattr(self._ex, "last_response_headers", None) or {}
        for k, v in headers.items():
            if k.lower() == "x-bapi-limit-reset-timestamp":
                return _int(v, 0) or None
        return None

    async def _once(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One request; the ``result`` object of Bybit's envelope, or a classified _Failure."""
        ccxt = ccxt_errors()

        try:
            resp = await getattr(self._ex, method)(params)
        except ccxt.BaseError as e:
            raise self._classify(e) from e
        if not isinstance(resp, dict):
            raise _Failure(ExchangeUnavailable(f"unexpected answer from {self._host}"), True, ambiguous=True)
        result = resp.get("result")
        self._last_time_ms = _int(resp.get("time"), 0)
        return result if isinstance(result, dict) else {}

    async def _wait(self, attempt: int, failure: _Failure) -> None:
        if failure.clock_skew:
            await self._resync_clock()
        delay = self._backoff.delay(attempt, now_ms=int(time.time() * 1000), reset_at_ms=failure.reset_at_ms)
        log.info("retry %d/%d in %.2fs after: %s", attempt, self._backoff.max_retries, delay,
                 failure.error.one_line())
        await self._sleep(delay)

    async def _resync_clock(self) -> None:
        try:
            await self._ex.load_time_difference()
        except Exception as e:  # the retry itself will report what is wrong
            log.info("clock resync failed: %s", self._scrub(str(e)))

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A request that is safe to repeat, retried on transient failures within the budget."""
        attempt = 0
        while True:
            try:
                return await self._once(method, params)
            except _Failure as f:
                if not f.transient or attempt >= self._backoff.max_retries:
                    raise f.error from f.__cause__
                attempt += 1
                await self._wait(attempt, f)

    async def _pages(self, method: str, params: dict[str, Any], *, max_items: int = 1000) -> list[dict[str, Any]]:
        """Follow ``nextPageCursor`` until the list ends (or ``max_items``)."""
        out: list[dict[str, Any]] = []
        query = dict(params)
        while True:
            result = await self._call(method, query)
            rows = result.get("list") or []
            out.extend(rows)
            cursor = result.get("nextPageCursor") or ""
            if not rows or not cursor or len(out) >= max_items:
                return out
            query["cursor"] = cursor

    async def close(self) -> None:
        """Close ccxt's HTTP session."""
        await self._ex.close()

    # --- market data ------------------------------------------------------------------------

    async def instrument(self, symbol: str) -> Instrument:
        """The symbol's filters and its live risk-limit tiers (cached per client)."""
        from bybit_mm.domain.instruments import Instrument, RiskTier

        symbol = symbol.upper()
        if symbol in self._instruments:
            return self._instruments[symbol]
        info = await self._call("public_get_v5_market_instruments_info", {"category": "linear", "symbol": symbol})
        rows = info.get("list") or []
        if not rows:
            raise UsageError(f"unknown symbol {symbol!r} on {self.network}",
                             hint="use a linear USDT perpetual such as BTCUSDT")
        row = rows[0]
        pf, lf, lev = row.get("priceFilter", {}), row.get("lotSizeFilter", {}), row.get("leverageFilter", {})
        limits = await self._call("public_get_v5_market_risk_limit", {"category": "linear", "symbol": symbol})
        tiers = sorted(
            (RiskTier(_dec0(t.get("riskLimitValue")), _dec0(t.get("maintenanceMargin")),
                      _dec0(t.get("mmDeduction")), _dec0(t.get("maxLeverage")))
             for t in limits.get("list") or [] if t.get("symbol", symbol) == symbol),
            key=lambda t: t.limit_value)
        max_lev = _dec0(lev.get("maxLeverage")) or Decimal(1)
        if not tiers:
            # Never invent a tier: margins and liquidation prices would be priced on a guess.
            raise ExchangeUnavailable(f"{self.network} returned no risk-limit tiers for {symbol}",
                                      hint="retry later; margins cannot be computed without them")
        inst = Instrument(
            symbol=symbol, base=row.get("baseCoin", symbol[:-4]), quote=row.get("quoteCoin", "USDT"),
            tick_size=_dec0(pf.get("tickSize")), qty_step=_dec0(lf.get("qtyStep")),
            min_qty=_dec0(lf.get("minOrderQty")), max_qty=_dec0(lf.get("maxOrderQty")),
            min_notional=_dec0(lf.get("minNotionalValue")), min_price=_dec0(pf.get("minPrice")),
            max_price=_dec0(pf.get("maxPrice")), max_leverage=max_lev,
            funding_interval_min=_int(row.get("fundingInterval"), 480), risk_tiers=tuple(tiers))
        self._instruments[symbol] = inst
        return inst

    async def ticker(self, symbol: str) -> Ticker:
        """Last, mark, index, the touch and funding."""
        res = await self._call("public_get_v5_market_tickers", {"category": "linear", "symbol": symbol.upper()})
        rows = res.get("list") or []
        if not rows:
            raise UsageError(f"unknown symbol {symbol!r} on {self.network}")
        t = rows[0]
        return Ticker(symbol=t.get("symbol", symbol.upper()), ts_ms=self._last_time_ms,
                      last=_dec0(t.get("lastPrice")), mark=_dec0(t.get("markPrice")),
                      index=_dec0(t.get("indexPrice")), bid=_dec0(t.get("bid1Price")),
                      ask=_dec0(t.get("ask1Price")), funding_rate=_dec0(t.get("fundingRate")),
                      next_funding_ms=_int(t.get("nextFundingTime")))

    async def order_book(self, symbol: str, depth: int = 25) -> OrderBook:
        """An L2 snapshot, ``depth`` levels a side."""
        res = await self._call("public_get_v5_market_orderbook",
                               {"category": "linear", "symbol": symbol.upper(), "limit": depth})

        def side(rows: Any) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((_dec0(p), _dec0(q)) for p, q in (rows or [])[:depth])

        return OrderBook(symbol=res.get("s", symbol.upper()), ts_ms=_int(res.get("ts"), self._last_time_ms),
                         bids=side(res.get("b")), asks=side(res.get("a")))

    async def recent_trades(self, symbol: str, limit: int = 100) -> list[PublicTrade]:
        """Recent public trades, oldest first."""
        res = await self._call("public_get_v5_market_recent_trade",
                               {"category": "linear", "symbol": symbol.upper(), "limit": limit})
        trades = [PublicTrade(trade_id=str(t.get("execId", "")), symbol=t.get("symbol", symbol.upper()),
                              ts_ms=_int(t.get("time")), price=_dec0(t.get("price")), qty=_dec0(t.get("size")),
                              side=Side.parse(t.get("side", "Buy")))
                  for t in res.get("list") or []]
        trades.sort(key=lambda t: t.ts_ms)
        return trades

    # --- account ----------------------------------------------------------------------------

    async def positions(self, symbol: str | None = None) -> list[PositionInfo]:
        """Open positions (Bybit lists flat ones with size 0; those are left out)."""
        params: dict[str, Any] = {"category": "linear", "limit": 200}
        params.update({"symbol": symbol.upper()} if symbol else {"settleCoin": "USDT"})
        rows = await self._pages("private_get_v5_position_list", params)
        out = []
        for p in rows:
            size = _dec0(p.get("size"))
            if size == 0:
                continue
            out.append(_position(p, size))
        return out

    async def _position_row(self, symbol: str) -> dict[str, Any] | None:
        rows = await self._pages("private_get_v5_position_list",
                                 {"category": "linear", "symbol": symbol.upper(), "limit": 200})
        return rows[0] if rows else None

    async def balance(self) -> Balance:
        """The USDT wallet of the unified account."""
        res = await self._call("private_get_v5_account_wallet_balance", {"accountType": "UNIFIED", "coin": "USDT"})
        accounts = res.get("list") or []
        if not accounts:
            return Balance(Decimal(0), Decimal(0), Decimal(0), Decimal(0))
        return balance_from_account(accounts[0])

    async def fee_rates(self, symbol: str) -> FeeRates:
        """The account's maker/taker rates from /v5/account/fee-rate."""
        res = await self._call("private_get_v5_account_fee_rate", {"category": "linear", "symbol": symbol.upper()})
        rows = res.get("list") or []
        if not rows:
            raise OrderRejected(f"Bybit returned no fee rate for {symbol}")
        return FeeRates(symbol=symbol.upper(), maker=_dec0(rows[0].get("makerFeeRate")),
                        taker=_dec0(rows[0].get("takerFeeRate")))

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """Set both sides' leverage; False when it already was (Bybit 110043)."""
        value = format(Decimal(leverage).normalize(), "f")
        try:
            await self._call("private_post_v5_position_set_leverage",
                             {"category": "linear", "symbol": symbol.upper(), "buyLeverage": value,
                              "sellLeverage": value})
        except BybitMMError as e:
            if e.ret_code == codes.LEVERAGE_NOT_MODIFIED:
                return False
            raise
        return True

    async def leverage(self, symbol: str) -> Decimal:
        """The symbol's current leverage setting (from the position list, flat or not)."""
        row = await self._position_row(symbol)
        return _dec0(row.get("leverage")) if row else Decimal(0)

    async def margin_mode(self, symbol: str) -> MarginMode:
        """The unified account's margin mode (account-wide: the symbol does not matter)."""
        res = await self._call("private_get_v5_account_info", {})
        return "isolated" if res.get("marginMode") == "ISOLATED_MARGIN" else "cross"

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> bool:
        """Switch the unified account between isolated and cross; False when already so."""
        if mode not in ("isolated", "cross"):
            raise UsageError(f"margin mode must be isolated or cross, got {mode!r}")
        if await self.margin_mode(symbol) == mode:
            return False
        try:
            await self._call("private_post_v5_account_set_margin_mode",
                             {"setMarginMode": "ISOLATED_MARGIN" if mode == "isolated" else "REGULAR_MARGIN"})
        except BybitMMError as e:
            if e.ret_code in codes.NOT_MODIFIED_CODES:
                return False
            raise
        return True

    # --- orders -----------------------------------------------------------------------------

    async def place_order(self, symbol: str, side: Side, qty: Decimal, price: Decimal | None = None, *,
                          order_type: OrderType = "Limit", time_in_force: TimeInForce = "PostOnly",
                          reduce_only: bool = False, client_order_id: str) -> OrderInfo:
        """Create an order, idempotently by ``client_order_id``.

        Bybit acknowledges asynchronously: the returned order is ``new`` even when the exchange
        cancels it right after (a PostOnly that would take); read :meth:`get_order` for its fate.
        """
        if not client_order_id:
            raise UsageError("place_order needs a client_order_id (Bybit orderLinkId)")
        symbol = symbol.upper()
        side = Side.parse(side)
        params: dict[str, Any] = {"category": "linear", "symbol": symbol, "side": side.value,
                                  "orderType": order_type, "qty": _fmt(qty), "orderLinkId": client_order_id,
                                  "positionIdx": 0}
        if order_type == "Limit":
            if price is None:
                raise UsageError("a limit order needs a price")
            params["price"] = _fmt(price)
            params["timeInForce"] = time_in_force
        else:
            params["timeInForce"] = "IOC" if time_in_force in ("PostOnly", "GTC") else time_in_force
        if reduce_only:
            params["reduceOnly"] = True
        attempt = 0
        while True:
            try:
                res = await self._once("private_post_v5_order_create", params)
                break
            except _Failure as f:
                if f.ret_code == codes.DUPLICATE_ORDER_LINK_ID and attempt > 0:
                    found = await self._lookup(symbol, client_order_id)
                    if found is not None:
                        return found
                if not f.transient or attempt >= self._backoff.max_retries:
                    raise f.error from f.__cause__
                attempt += 1
                if f.ambiguous:
                    found = await self._lookup(symbol, client_order_id)
                    if found is not None:
                        return found
                await self._wait(attempt, f)
        now = self._last_time_ms or int(time.time() * 1000)
        return OrderInfo(order_id=str(res.get("orderId", "")), client_order_id=res.get("orderLinkId", client_order_id),
                         symbol=symbol, side=side, order_type=order_type,
                         price=Decimal(str(price)) if price is not None and order_type == "Limit" else None,
                         qty=Decimal(str(qty)), filled_qty=Decimal(0), avg_fill_price=None, status="new",
                         time_in_force=params["timeInForce"], reduce_only=reduce_only, created_ms=now,
                         updated_ms=now)

    async def _lookup(self, symbol: str, client_order_id: str) -> OrderInfo | None:
        """One look for an order by orderLinkId after an ambiguous create; None if unknown or unreachable."""
        try:
            return await self._get_order_once(symbol, {"orderLinkId": client_order_id})
        except _Failure:
            return None

    async def _get_order_once(self, symbol: str, ident: dict[str, str]) -> OrderInfo | None:
        base = {"category": "linear", "symbol": symbol.upper(), **ident}
        res = await self._once("private_get_v5_order_realtime", base)
        rows = res.get("list") or []
        if not rows:
            res = await self._once("private_get_v5_order_history", base)
            rows = res.get("list") or []
        return _order(rows[0]) if rows else None

    async def get_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "") -> OrderInfo | None:
        """One order by id (open or recently closed); None when Bybit does not know it."""
        ident = {"orderId": order_id} if order_id else {"orderLinkId": client_order_id}
        if not order_id and not client_order_id:
            raise UsageError("get_order needs an order_id or a client_order_id")
        attempt = 0
        while True:
            try:
                return await self._get_order_once(symbol, ident)
            except _Failure as f:
                if not f.transient or attempt >= self._backoff.max_retries:
                    raise f.error from f.__cause__
                attempt += 1
                await self._wait(attempt, f)

    async def amend_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "",
                          price: Decimal | None = None, qty: Decimal | None = None) -> OrderInfo:
        """Change price and/or qty of a working order in one request; returns the order as it now is."""
        ident = {"orderId": order_id} if order_id else {"orderLinkId": client_order_id}
        params: dict[str, Any] = {"category": "linear", "symbol": symbol.upper(), **ident}
        if price is not None:
            params["price"] = _fmt(price)
        if qty is not None:
            params["qty"] = _fmt(qty)
        try:
            await self._call("private_post_v5_order_amend", params)
        except UsageError as e:
            # A retried amend (or one based on a view older than the exchange's) finds the order
            # already as asked: Bybit says 10001 "...remains unchanged...". That is success.
            if e.ret_code != 10001 or "unchanged" not in str(e).lower():
                raise
        found = await self.get_order(symbol, order_id=order_id, client_order_id=client_order_id)
        if found is None:
            raise OrderNotFound(f"order {order_id or client_order_id} vanished after an amend")
        return found

    async def cancel_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "") -> OrderInfo:
        """Cancel one order; a retry that finds it already gone returns its final state."""
        ident = {"orderId": order_id} if order_id else {"orderLinkId": client_order_id}
        try:
            await self._call("private_post_v5_order_cancel", {"category": "linear", "symbol": symbol.upper(), **ident})
        except OrderNotFound:
            found = await self.get_order(symbol, order_id=order_id, client_order_id=client_order_id)
            if found is None or found.is_open:
                raise
            return found
        found = await self.get_order(symbol, order_id=order_id, client_order_id=client_order_id)
        if found is None:
            raise OrderNotFound(f"order {order_id or client_order_id} not found after cancel")
        return found

    async def set_disconnect_cancel(self, window_s: int) -> None:
        """Set Bybit's disconnection protection (DCP) window for derivatives, 3 to 300 seconds.

        Bybit then cancels every derivatives order once the private streams subscribed to the
        ``dcp`` topic have been gone that long. The account needs DCP enabled by Bybit.
        """
        await self._call("private_post_v5_order_disconnected_cancel_all",
                         {"product": "DERIVATIVES", "timeWindow": int(window_s)})

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every working linear order (of ``symbol``, or all USDT-settled); returns the count."""
        params: dict[str, Any] = {"category": "linear"}
        params.update({"symbol": symbol.upper()} if symbol else {"settleCoin": "USDT"})
        res = await self._call("private_post_v5_order_cancel_all", params)
        return len(res.get("list") or [])

    async def open_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        """Working orders, oldest first."""
        params: dict[str, Any] = {"category": "linear", "openOnly": 0, "limit": 50}
        params.update({"symbol": symbol.upper()} if symbol else {"settleCoin": "USDT"})
        orders = [_order(r) for r in await self._pages("private_get_v5_order_realtime", params)]
        orders = [o for o in orders if o.is_open]
        orders.sort(key=lambda o: o.created_ms)
        return orders

    async def executions(self, symbol: str | None = None, *, since_ms: int | None = None,
                         limit: int = 100) -> list[Execution]:
        """Our executions (fills, funding, liquidations; Bybit's ``execType`` kept), oldest first."""
        params: dict[str, Any] = {"category": "linear", "limit": min(limit, 100)}
        if symbol:
            params["symbol"] = symbol.upper()
        if since_ms is not None:
            params["startTime"] = since_ms
        rows = await self._pages("private_get_v5_execution_list", params, max_items=limit)
        out = [execution_from_row(r) for r in reversed(rows)]
        if since_ms is not None:
            out = [x for x in out if x.ts_ms >= since_ms]
        out.sort(key=lambda x: x.ts_ms)
        return out[-limit:]

    async def close_position(self, symbol: str) -> OrderInfo | None:
        """Flatten ``symbol`` with a reduce-only market order; None when already flat."""
        import uuid

        positions = await self.positions(symbol)
        if not positions:
            return None
        pos = positions[0]
        side = Side.SELL if pos.side == "long" else Side.BUY
        return await self.place_order(symbol, side, pos.size, order_type="Market", time_in_force="IOC",
                                      reduce_only=True, client_order_id=f"flat-{uuid.uuid4().hex[:24]}")


def _fmt(value: Decimal | float | int | str) -> str:
    d = Decimal(str(value))
    return format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f")


def _position(p: dict[str, Any], size: Decimal) -> PositionInfo:
    side = p.get("side", "")
    trade_mode = str(p.get("tradeMode", "0"))
    return PositionInfo(
        symbol=p.get("symbol", ""), side="long" if side == "Buy" else "short" if side == "Sell" else "flat",
        size=size, entry_price=_dec0(p.get("avgPrice") or p.get("entryPrice")), mark_price=_dec0(p.get("markPrice")),
        liquidation_price=_dec(p.get("liqPrice"), None) or None, bankruptcy_price=_dec(p.get("bustPrice"), None) or None,
        leverage=_dec0(p.get("leverage")), margin_mode="isolated" if trade_mode == "1" else "cross",
        position_margin=_dec0(p.get("positionIM") or p.get("positionMargin")),
        maintenance_margin=_dec0(p.get("positionMM")), unrealized_pnl=_dec0(p.get("unrealisedPnl")),
        realized_pnl=_dec0(p.get("cumRealisedPnl")), updated_ms=_int(p.get("updatedTime")))


def _order(r: dict[str, Any]) -> OrderInfo:
    order_type = "Market" if r.get("orderType") == "Market" else "Limit"
    price = _dec(r.get("price"), None)
    avg = _dec(r.get("avgPrice"), None)
    return OrderInfo(
        order_id=str(r.get("orderId", "")), client_order_id=r.get("orderLinkId", ""), symbol=r.get("symbol", ""),
        side=Side.parse(r.get("side", "Buy")), order_type=order_type,
        price=price if price and order_type == "Limit" else None, qty=_dec0(r.get("qty")), filled_qty=_dec0(r.get("cumExecQty")),
        avg_fill_price=avg if avg else None, status=_STATUS.get(r.get("orderStatus", ""), "new"),
        time_in_force=r.get("timeInForce", "GTC"), reduce_only=bool(r.get("reduceOnly", False)),
        reject_reason=r.get("rejectReason", "") if r.get("rejectReason") not in (None, "EC_NoError") else "",
        created_ms=_int(r.get("createdTime")), updated_ms=_int(r.get("updatedTime")))



def balance_from_account(acct: dict[str, Any]) -> Balance:
    """The USDT wallet from one Bybit account item (REST wallet-balance ``list[0]``, or a ``wallet`` push)."""
    coin = next((c for c in acct.get("coin") or [] if c.get("coin") == "USDT"), {})
    wallet = _dec0(coin.get("walletBalance", acct.get("totalWalletBalance")))
    upnl = _dec0(coin.get("unrealisedPnl", acct.get("totalPerpUPL")))
    equity = _dec(coin.get("equity"), None)
    pos_im = _dec0(coin.get("totalPositionIM"))
    order_im = _dec0(coin.get("totalOrderIM"))
    available = _dec(acct.get("totalAvailableBalance"), None)
    if available is None:
        available = _dec(coin.get("availableToWithdraw"), None)
    if available is None:
        available = wallet - pos_im - order_im
    return Balance(wallet_balance=wallet, equity=equity if equity is not None else wallet + upnl,
                   available=available, unrealized_pnl=upnl, position_margin=pos_im, order_margin=order_im)


def execution_from_row(r: dict[str, Any]) -> Execution:
    """One execution from a REST execution-list row or an ``execution`` push item."""
    return Execution(exec_id=str(r.get("execId", "")), order_id=str(r.get("orderId", "")),
                     client_order_id=r.get("orderLinkId", ""), symbol=r.get("symbol", ""),
                     side=Side.parse(r.get("side") or "Buy"), price=_dec0(r.get("execPrice")),
                     qty=_dec0(r.get("execQty")), fee=_dec0(r.get("execFee")),
                     is_maker=str(r.get("isMaker")).lower() == "true", ts_ms=_int(r.get("execTime")),
                     exec_type=exec_type_from_bybit(r.get("execType")))


def position_from_row(p: dict[str, Any]) -> PositionInfo | None:
    """A position from a REST position-list row or a ``position`` push item (None when flat)."""
    size = _dec0(p.get("size"))
    return _position(p, size) if size > 0 else None


def order_from_row(r: dict[str, Any]) -> OrderInfo:
    """An order from a REST order row or an ``order`` push item."""
    return _order(r)
