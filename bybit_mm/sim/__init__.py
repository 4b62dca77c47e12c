"""The simulated exchange (synthetic market, matching, ledger) behind the emulator and paper client.

Import the facade from ``bybit_mm.sim.exchange`` (it pulls numpy in); this package module stays light.
"""
