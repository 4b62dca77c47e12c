"""bybit-mm: Avellaneda-Stoikov market making on Bybit USDT perpetual futures."""

__version__ = "0.1.0"
