"""A local Bybit V5 exchange (REST, category ``linear``) over the simulation core.

The emulator is a thin wire layer: it authenticates, rate-limits, injects faults, parses
requests, calls :class:`bybit_mm.sim.exchange.SimExchange` and serialises its dataclasses into
Bybit's JSON. It holds no exchange logic of its own.

- :mod:`.config` — :class:`EmulatorConfig` and the default credentials.
- :mod:`.server` — :func:`build_app` (the aiohttp application) and :func:`serve`.
- :mod:`.runner` — :func:`running_emulator`, an in-process server in a background thread for tests.

Time: data timestamps and the envelope's ``time`` come from the sim clock; signature windows,
rate limits and ``/v5/market/time`` (the server time clients sign against) use real (wall) time.
"""

from bybit_mm.emulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorConfig

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "EmulatorConfig"]
