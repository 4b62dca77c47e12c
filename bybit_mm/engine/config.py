"""The engine's settings: one frozen value built from a profile plus command-line overrides."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bybit_mm.config.schema import Profile


@dataclass(frozen=True)
class EngineConfig:
    """Everything the market-making loop needs to know, with the profile's defaults.

    Times in seconds of the engine clock; ``liquidation_threshold`` and ``emergency_reduce_ratio``
    are the seed's names (0.8 and 0.5 by default).
    """

    symbol: str = "BTCUSDT"
    leverage: Decimal = Decimal(50)
    margin_mode: str = "isolated"
    model: str = "as"
    #: Risk aversion per (bps x 1,000 USDT) of inventory (profile ``quoting.risk_aversion``;
    #: :func:`bybit_mm.quoting.models.risk_quote`).
    risk_aversion: float = 0.005
    horizon_s: float = 300.0
    order_notional: Decimal = Decimal(300)
    vol_window_s: float = 300.0
    intensity_window_s: float = 600.0
    requote_ticks: int = 1
    liquidation_threshold: float = 0.8
    emergency_reduce_ratio: float = 0.5
    max_position_pct: float = 0.5
    #: Largest |position| in USDT the quotes may build (the smaller of this and the margin cap).
    max_inventory_usdt: Decimal = Decimal(1000)
    max_drawdown_pct: float = 20.0
    stale_after_s: float = 5.0
    #: Seconds between iterations (market read -> decision -> orders).
    interval_s: float = 1.0
    #: Seconds between journaled/published JSON snapshots.
    snapshot_every_s: float = 10.0
    #: Stop after this many seconds of engine time (None: run until stopped).
    duration_s: float | None = None
    flatten_on_exit: bool = False
    #: Orders per second per order endpoint (Bybit: create, amend, cancel 10/s each on linear).
    order_rate_per_s: float = 10.0
    #: Fewest mid updates before the volatility estimate is used (None: a tenth of the updates
    #: one window holds at ``interval_s``, between 5 and 30).
    min_vol_updates: int | None = None
    #: Fewest trades in the intensity window before A and k are used.
    min_trades: int = 50
    #: On a stream: fewest seconds between two decisions a book update or trade may trigger (so
    #: a busy book does not spend the order-rate budget); without events, one per ``interval_s``.
    min_requote_s: float = 0.1
    #: On a stream: seconds between REST reconciliations of fills, position, wallet and orders
    #: (and at once after the private stream reconnected).
    reconcile_s: float = 30.0
    #: On a live market (an exchange, or the paper account on a live feed): public trades read at
    #: start (Bybit serves the last 1000) and replayed into the estimators as if the engine had
    #: been watching, so a liquid market is quoted at once; 0: start cold. The synthetic paper
    #: market always starts cold (its runs stay as they were).
    bootstrap_trades: int = 1000

    @property
    def vol_updates_needed(self) -> int:
        """The effective ``min_vol_updates``."""
        if self.min_vol_updates is not None:
            return self.min_vol_updates
        return max(5, min(30, int(self.vol_window_s / self.interval_s / 10)))

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> EngineConfig:
        """The profile's market, quoting and risk sections, then ``overrides`` (None values ignored)."""
        q, r, m = profile.quoting, profile.risk, profile.market
        cfg = cls(
            symbol=m.symbol, leverage=Decimal(str(m.leverage)), margin_mode=m.margin_mode,
            model=q.model, risk_aversion=q.risk_aversion, horizon_s=q.horizon_s,
            order_notional=Decimal(str(q.order_notional)), vol_window_s=q.vol_window_s,
            intensity_window_s=q.intensity_window_s, requote_ticks=q.requote_ticks,
            liquidation_threshold=r.liquidation_threshold,
            emergency_reduce_ratio=r.emergency_reduce_ratio, max_position_pct=r.max_position_pct,
            max_inventory_usdt=Decimal(str(r.max_inventory_usdt)),
            max_drawdown_pct=r.max_drawdown_pct, stale_after_s=r.stale_after_s,
        )
        return cfg.with_(**overrides)

    def with_(self, **overrides: Any) -> EngineConfig:
        """A copy with the given (non-None) fields replaced; leverage and notional become Decimals."""
        values = {k: v for k, v in overrides.items() if v is not None}
        for key in ("leverage", "order_notional", "max_inventory_usdt"):
            if key in values:
                values[key] = Decimal(str(values[key]))
        return replace(self, **values)
