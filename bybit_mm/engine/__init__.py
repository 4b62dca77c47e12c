"""The market-making engine: market data -> model -> risk guard -> order reconciliation -> fills -> journal.

Exchange-agnostic: it talks only to :class:`bybit_mm.exchange.port.FuturesClient`, reads time from an
injected clock (:mod:`bybit_mm.engine.timing`) and publishes frozen snapshots; it never prints.
"""
