"""Quoting models: Avellaneda-Stoikov (finite and rolling horizon) and GLFT, behind one interface.

Units used throughout (the engine feeds these):

- prices (``mid``, quotes, ``sigma``'s numerator, a quote's distance from the mid) in the instrument's price
  units (USDT for a USDT perpetual);
- time in **seconds**: ``sigma`` is price units per square-root second, ``tau`` is seconds,
  ``A`` is arrivals per second;
- ``k`` is per price unit (``lambda(delta) = A * exp(-k * delta)``);
- ``q`` is inventory in the unit the risk aversion is quoted per, positive when long, and
  ``delta`` the order size in that unit (GLFT's ``Delta``; A-S assumes 1). The engine uses lots of
  :data:`INVENTORY_UNIT_USDT` (see :func:`risk_quote`).

Any other consistent choice works (the Monte-Carlo uses the paper's dimensionless time), as long
as sigma, tau and A share one time unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class Quote(NamedTuple):
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
              A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> Quote:
        """Quote around ``mid`` for inventory ``q`` and order size ``delta`` (units: see the module docstring)."""
        ...

    def parts(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> tuple[float, float, float]:
        """The quote as (reservation price, half-spread, shift of the centre below the mid)."""
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
              A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> Quote:
        """A&S quotes; ``A`` is not used (the A&S spread does not depend on it).

        With orders of size ``delta`` (the paper has 1) the spread is
        ``gamma sigma^2 tau delta + (2/(gamma delta)) ln(1 + gamma delta / k)``: the reservation prices
        of the bid and the ask are those of ``q + delta`` and ``q - delta``, and the exponential-utility
        argument of the paper's eq. (13)-(14) is the same with ``gamma delta`` for ``gamma``
        (Gueant 2017, "Optimal market making", sec. 3; GLFT 2013's ``c1`` with ``xi = gamma``).
        """
        r, half, shift = self.parts(mid, q, sigma, gamma, k, A, tau, delta)
        return Quote(r, r - half, r + half, half, -shift, self.name)

    def parts(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> tuple[float, float, float]:
        """:meth:`quote`'s (reservation price, half-spread, shift of the centre below the mid)."""
        shift = q * gamma * sigma * sigma * tau
        gd = gamma * delta
        return mid - shift, 0.5 * (gamma * sigma * sigma * tau * delta + (2.0 / gd) * math.log1p(gd / k)), shift


def glft_coefficients(gamma: float, A: float, k: float, delta: float = 1.0) -> tuple[float, float]:
    """GLFT's ``(c1, c2)`` with ``xi = gamma`` (Gueant, Lehalle, Fernandez-Tapia 2013; hftbacktest).

    ``c1 = 1/(xi Delta) ln(1 + xi Delta / k)``,
    ``c2 = sqrt(gamma / (2 A Delta k) (1 + xi Delta / k)^(k / (xi Delta) + 1))``.
    """
    xd = gamma * delta
    c1 = math.log1p(xd / k) / xd
    # (1 + x)^(1/x + 1) through log1p: exact to rounding even where 1 + x is not (x -> 0).
    c2 = math.sqrt(gamma / (2.0 * A * delta * k) * math.exp((k / xd + 1.0) * math.log1p(xd / k)))
    return c1, c2


@dataclass(frozen=True, slots=True)
class GLFT:
    """The GLFT asymptotic quotes (infinite horizon: ``tau`` is ignored), ``xi = gamma``, ``Delta = delta``.

    half-spread ``= c1 + (Delta/2) sigma c2``, skew per unit of q ``= sigma c2`` (q in the unit of
    Delta; hftbacktest's example takes q in orders and Delta = 1),
    bid ``= mid - (half + skew q)``, ask ``= mid + (half - skew q)``.

    hftbacktest's example evaluates this in ticks (sigma and k per tick, wealth in ticks). The
    formula is unit-consistent, so evaluating it in price units gives the same prices provided
    gamma is per unit of price-units wealth, like the A&S gamma: hftbacktest's tick-form gamma
    ``g`` corresponds to ``gamma = g / tick`` here. Hence no tick size is needed.
    """

    name: str = "glft"

    def quote(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> Quote:
        """GLFT quotes; ``A`` (arrivals per second at the mid) is required."""
        r, half, shift = self.parts(mid, q, sigma, gamma, k, A, tau, delta)
        return Quote(r, r - half, r + half, half, -shift, self.name)

    def parts(self, mid: float, q: float, sigma: float, gamma: float, k: float,
              A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> tuple[float, float, float]:
        """:meth:`quote`'s (reservation price, half-spread, shift of the centre below the mid)."""
        if A is None or A <= 0:
            raise ValueError("GLFT needs the arrival intensity A > 0")
        c1, c2 = glft_coefficients(gamma, A, k, delta)
        shift = sigma * c2 * q
        return mid - shift, c1 + 0.5 * delta * sigma * c2, shift


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
                 A: float | None = None, tau: float = 0.0, delta: float = 1.0) -> Quote:
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
    r, half, shift = model.parts(BPS, q, sigma / scale, gamma, k * scale, A, tau, delta)
    return Quote(mid + (r - BPS) * scale, mid + (r - half - BPS) * scale, mid + (r + half - BPS) * scale,
                 half * scale, -shift * scale, model.name)


#: The inventory unit of the profile's ``quoting.risk_aversion``: 1,000 USDT of position.
INVENTORY_UNIT_USDT = 1000.0


def glft_xi_matching_as(gamma: float, sigma: float, tau: float, A: float, k: float, delta: float) -> float:
    """GLFT's ``xi`` (= its gamma) whose asymptotic skew equals the A-S skew at horizon ``tau``.

    A-S (2008, eq. 29) skews ``gamma sigma^2 tau`` per unit of inventory; GLFT (Gueant, Lehalle,
    Fernandez-Tapia 2013, the asymptotic quotes as in hftbacktest's GLFT example) skews
    ``sigma c2(xi)`` with ``c2^2 = xi / (2 A Delta k) F(x)``, ``x = xi Delta / k``,
    ``F(x) = (1 + x)^(1/x + 1)``. Equal skews need ``x F(x) = c`` with
    ``c = 2 A Delta^2 gamma^2 sigma^2 tau^2``. ``ln x + ln F(x)`` rises in ``u = ln x`` with slope
    ``2 - ln(1 + x) / x`` (between 1 and 2), so Newton's method on ``u`` converges from any start.
    The two models then share one meaning of the risk aversion (the skew per unit of inventory)
    and differ only in the spread's intensity term (GLFT's ``c1`` at ``xi`` against A-S's at
    ``gamma``). Units: any consistent set (the engine's: bps, seconds, lots of 1,000 USDT).
    """
    c = 2.0 * A * delta * delta * (gamma * sigma * tau) ** 2
    if not c > 0:
        return 1e-12 * k / delta
    target = math.log(c)
    u = target - 1.0  # x F(x) ~ e x for small x
    for _ in range(60):
        x = math.exp(u)
        g = u + (1.0 / x + 1.0) * math.log1p(x) - target
        step = g / (2.0 - math.log1p(x) / x)
        u -= step
        if abs(step) < 1e-12:
            break
    return math.exp(u) * k / delta


def risk_quote(model: QuoteModel, mid: float, inventory_usdt: float, order_usdt: float, sigma: float,
               risk_aversion: float, k: float, A: float | None, horizon_s: float) -> Quote:
    """The engine's quote: the profile's risk settings, one meaning in A-S and GLFT.

    Prices in basis points of ``mid`` (:func:`quote_in_bps`), inventory in lots of
    :data:`INVENTORY_UNIT_USDT` (``q = inventory_usdt / 1000``, ``Delta = order_usdt / 1000``) and
    ``risk_aversion`` is the CARA gamma per (bps x 1,000 USDT). The skew is then
    ``risk_aversion x sigma_bps^2 x horizon_s`` bps per 1,000 USDT of inventory in both models:
    A-S directly (eq. 29), GLFT through :func:`glft_xi_matching_as`. E.g. risk_aversion 0.01,
    sigma 1 bps/sqrt(s), horizon 300 s: 3 bps per 1,000 USDT. The order size changes the spread's
    intensity term and the half-spread's ``Delta/2`` term, not the skew per USDT.

    The old per-order-unit gamma (``q = position / order_qty``) is the same A-S quote at
    ``risk_aversion = gamma x 1000 / order_notional`` (``config.schema.gamma_as_risk_aversion``).
    """
    q = inventory_usdt / INVENTORY_UNIT_USDT
    delta = order_usdt / INVENTORY_UNIT_USDT
    gamma = risk_aversion
    if isinstance(model, GLFT):
        if A is None or A <= 0:
            raise ValueError("GLFT needs the arrival intensity A > 0")
        scale = mid / BPS
        gamma = glft_xi_matching_as(risk_aversion, sigma / scale, horizon_s, A, k * scale, delta)
    return quote_in_bps(model, mid, q, sigma, gamma, k, A, horizon_s, delta)

