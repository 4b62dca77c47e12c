"""Quoting models: Avellaneda-Stoikov (finite and rolling horizon) and GLFT, behind one interface.

Units used throughout (the engine feeds these):

- prices (``mid``, quotes, ``sigma``'s numerator, distances ``delta``) in the instrument's price
  units (USDT for a USDT perpetual);
- time in **seconds**: ``sigma`` is price units per square-root second, ``tau`` is seconds,
  ``A`` is arrivals per second;
- ``k`` is per price unit (``lambda(delta) = A * exp(-k * delta)``);
- ``q`` is inventory in units of the quoted order size (the paper's "shares"; the engine passes
  ``position / order_qty``), positive when long.

Any other consistent choice works (the Monte-Carlo uses the paper's dimensionless time), as long
as sigma, tau and A share one time unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Quote:
    """A model's answer, in price units (floats; tick rounding comes later, in ``orders``).

    ``skew`` is the signed shift of the quote centre from the mid (``reservation_price - mid``):
    negative when long, positive when short. ``half_spread`` is half of ``ask - bid``.
    """

    reservation_price: float
    bid: float
    ask: float
    half_spread: float
    skew: float
    model: str

    @property
    def spread(self) -> float:
        """``ask - bid``."""
        return self.ask - self.bid

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly view."""
        return {"model": self.model, "reservation_price": self.reservation_price, "bid": self.bid,
                "ask": self.ask, "spread": self.spread, "half_spread": self.half_spread,
                "skew": self.skew}


class QuoteModel(Protocol):
    """What every model offers: one pure function from market state to a :class:`Quote`."""

    name: str

    def quote(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0) -> Quote:
        """Quote around ``mid`` for inventory ``q`` (units: see the module docstring)."""
        ...


def as_reservation_price(mid: float, q: float, sigma: float, gamma: float, tau: float) -> float:
    """Avellaneda-Stoikov (2008) eq. (29): ``r = s - q * gamma * sigma^2 * tau``."""
    return mid - q * gamma * sigma * sigma * tau


def as_spread(sigma: float, gamma: float, k: float, tau: float) -> float:
    """Avellaneda-Stoikov (2008) eq. (30): ``delta_a + delta_b = gamma sigma^2 tau + (2/gamma) ln(1 + gamma/k)``."""
    return gamma * sigma * sigma * tau + as_intensity_spread(gamma, k)


def as_intensity_spread(gamma: float, k: float) -> float:
    """The order-arrival part of the A&S spread, ``(2/gamma) ln(1 + gamma/k)`` (what the paper tabulates)."""
    return (2.0 / gamma) * math.log1p(gamma / k)


@dataclass(frozen=True, slots=True)
class AvellanedaStoikov:
    """Avellaneda & Stoikov (2008) quotes: spread centred on the reservation price.

    ``horizon="finite"``: ``tau`` is the time left to the terminal time ``T - t``.
    ``horizon="rolling"``: continuous trading; ``tau`` is a fixed horizon (a parameter, e.g. the
    profile's ``quoting.horizon_s``) passed on every call. The formulas are the same; the name in
    the output says which one the caller meant.
    """

    horizon: str = "rolling"

    def __post_init__(self) -> None:
        if self.horizon not in ("finite", "rolling"):
            raise ValueError(f"horizon must be 'finite' or 'rolling', not {self.horizon!r}")

    @property
    def name(self) -> str:
        """``as-finite`` or ``as-rolling``."""
        return f"as-{self.horizon}"

    def quote(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0) -> Quote:
        """A&S quotes; ``A`` is not used (the A&S spread does not depend on it)."""
        shift = q * gamma * sigma * sigma * tau
        r = mid - shift
        half = 0.5 * (gamma * sigma * sigma * tau + (2.0 / gamma) * math.log1p(gamma / k))
        return Quote(r, r - half, r + half, half, -shift, self.name)


def glft_coefficients(gamma: float, A: float, k: float, delta: float = 1.0) -> tuple[float, float]:
    """GLFT's ``(c1, c2)`` with ``xi = gamma`` (Gueant, Lehalle, Fernandez-Tapia 2013; hftbacktest).

    ``c1 = 1/(xi Delta) ln(1 + xi Delta / k)``,
    ``c2 = sqrt(gamma / (2 A Delta k) (1 + xi Delta / k)^(k / (xi Delta) + 1))``.
    """
    xd = gamma * delta
    c1 = math.log1p(xd / k) / xd
    c2 = math.sqrt(gamma / (2.0 * A * delta * k) * (1.0 + xd / k) ** (k / xd + 1.0))
    return c1, c2


@dataclass(frozen=True, slots=True)
class GLFT:
    """The GLFT asymptotic quotes (infinite horizon: ``tau`` is ignored), ``xi = gamma``, ``Delta = 1``.

    half-spread ``= c1 + (Delta/2) sigma c2``, skew per unit of q ``= sigma c2``,
    bid ``= mid - (half + skew q)``, ask ``= mid + (half - skew q)``.

    hftbacktest's example evaluates this in ticks (sigma and k per tick, wealth in ticks). The
    formula is unit-consistent, so evaluating it in price units gives the same prices provided
    gamma is per unit of price-units wealth, like the A&S gamma: hftbacktest's tick-form gamma
    ``g`` corresponds to ``gamma = g / tick`` here. Hence no tick size is needed.
    """

    name: str = "glft"

    def quote(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0) -> Quote:
        """GLFT quotes; ``A`` (arrivals per second at the mid) is required."""
        if A is None or A <= 0:
            raise ValueError("GLFT needs the arrival intensity A > 0")
        c1, c2 = glft_coefficients(gamma, A, k)
        half = c1 + 0.5 * sigma * c2
        shift = sigma * c2 * q
        r = mid - shift
        return Quote(r, r - half, r + half, half, -shift, self.name)


def model_for(name: str) -> QuoteModel:
    """``as`` / ``as-rolling`` / ``as-finite`` / ``glft`` to a model object."""
    if name in ("as", "as-rolling"):
        return AvellanedaStoikov("rolling")
    if name == "as-finite":
        return AvellanedaStoikov("finite")
    if name == "glft":
        return GLFT()
    raise ValueError(f"unknown quoting model {name!r} (expected as, as-finite or glft)")


BPS = 1e4


def quote_in_bps(model: QuoteModel, mid: float, q: float, sigma: float, gamma: float, k: float,
                 A: float | None = None, tau: float = 0.0) -> Quote:
    """Evaluate ``model`` with prices in basis points of ``mid``; return prices in price units.

    The models' ``gamma`` is per unit of price-units wealth, so one gamma means wildly different
    spreads on a 100 USDT and a 95,000 USDT contract. Trading code evaluates the model on the mid
    scaled to 10,000 bps instead: ``sigma`` becomes bps per root second (``sigma / mid * 1e4``),
    ``k`` per bps (``k * mid / 1e4``), ``A`` is unchanged, and ``gamma`` is then per bps per unit
    of ``q`` for every symbol (GLFT's ``Delta`` becomes one basis point). Inputs are as in the module
    docstring (price units); the returned quote is scaled back to price units.
    """
    if mid <= 0:
        raise ValueError(f"mid must be positive, got {mid}")
    scale = mid / BPS
    n = model.quote(BPS, q, sigma / scale, gamma, k * scale, A, tau)
    return Quote(mid + (n.reservation_price - BPS) * scale, mid + (n.bid - BPS) * scale,
                 mid + (n.ask - BPS) * scale, n.half_spread * scale, n.skew * scale, n.model)
