"""``bybit-mm record``: the public streams of one or more symbols written to disk as received
(see :mod:`bybit_mm.data.recorder` for the file format), for ``backtest`` to replay later."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import EXIT_INTERRUPTED, UsageError

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
#: Seconds between two status lines on stderr.
STATUS_EVERY_S = 5.0


def register(app: typer.Typer) -> None:
    """Add ``record`` to ``app``."""

    @app.command("record")
    def record(
        ctx: typer.Context,
        symbols: list[str] = typer.Argument(..., metavar="SYMBOL", help="USDT perpetuals to record, e.g. BTCUSDT ETHUSDT."),
        out: Path = typer.Option(..., "--out", "-o", help="Directory for the recordings (created if missing)."),
        duration: Optional[str] = typer.Option(None, "--duration", "-d", help="Stop after this long: 20m, 90s, 1h30m, 1200 (default: until Ctrl-C)."),
        depth: int = typer.Option(50, "--depth", help="Order book depth: 1, 50, 200 or 1000 levels (Bybit's linear book topics)."),
    ) -> None:
        """Record the public order book, trades and ticker (mark price, funding) of SYMBOL...

        One gzip JSON-lines file per symbol per UTC day in --out
        (YYYY-MM-DD_SYMBOL_ws.jsonl.gz), each line a message as received with its receive
        time. Reconnects by itself (a new subscription starts with a fresh snapshot). Status
        on stderr; the files written on stdout at the end. Ctrl-C stops (exit 130), SIGTERM
        stops (exit 0), both after closing the files.
        """
        from bybit_mm.cli.paper import parse_duration
        from bybit_mm.exchange.raw_stream import BOOK_DEPTHS

        app = app_context(ctx)
        names = [s.strip().upper() for s in symbols]
        bad = [s for s in names if not _SYMBOL.match(s)]
        if bad:
            raise UsageError(f"not a symbol: {', '.join(bad)}", hint="use Bybit's names, e.g. BTCUSDT")
        if len(set(names)) != len(names):
            raise UsageError("a symbol is given twice")
        if depth not in BOOK_DEPTHS:
            raise UsageError(f"--depth must be one of {', '.join(map(str, BOOK_DEPTHS))}, got {depth}")
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a directory")
        seconds = parse_duration(duration)
        profile = app.profile
        files = _record(app, network=profile.exchange.network, url=profile.exchange.url, symbols=names,
                        out=out, seconds=seconds, depth=depth)
        for path in files:
            typer.echo(str(path))


def _record(app: Any, *, network: str, url: str, symbols: list[str], out: Path, seconds: float | None,
            depth: int) -> list[Path]:
    import asyncio
    import signal
    import time

    from bybit_mm.data.recorder import RecordingWriter
    from bybit_mm.exchange.raw_stream import RawPublicStream, public_topics, public_ws_url

    ws_url = public_ws_url(network, url)
    writers = {s: RecordingWriter(out, s) for s in symbols}
    streams = {s: RawPublicStream(ws_url, public_topics(s, depth)) for s in symbols}
    started = time.monotonic()

    def status(final: bool = False) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        n = sum(st.messages for st in streams.values())
        lost = sum(st.disconnects for st in streams.values())
        files = sum(len(w.files) for w in writers.values())
        app.terminal.message(f"{'recorded' if final else 'recording'} {', '.join(symbols)} from {network}: "
                             f"{n} messages ({n / elapsed:.0f}/s), {files} file{'s' * (files != 1)}, "
                             f"{lost} reconnect{'s' * (lost != 1)}")

    stopped_by: list[str] = []

    async def main() -> None:
        tasks = [asyncio.create_task(streams[s].run(writers[s].write), name=f"record-{s}") for s in symbols]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig, reason in ((signal.SIGINT, "interrupted"), (signal.SIGTERM, "SIGTERM")):
            try:
                loop.add_signal_handler(sig, lambda r=reason: (stopped_by.append(r), stop.set()))
            except (NotImplementedError, RuntimeError, ValueError):
                pass

        async def flusher() -> None:
            last_status = time.monotonic()
            while True:
                await asyncio.sleep(0.2)
                for w in writers.values():
                    w.flush(time.time_ns())
                if time.monotonic() - last_status >= STATUS_EVERY_S:
                    status()
                    last_status = time.monotonic()

        helpers = [asyncio.create_task(flusher()), asyncio.create_task(stop.wait())]
        try:
            done, _ = await asyncio.wait([*tasks, helpers[1]], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # a refused subscription or an unreachable exchange: raise it
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
            for t in (*tasks, *helpers):
                t.cancel()
            await asyncio.gather(*tasks, *helpers, return_exceptions=True)

    app.terminal.message(f"recording {', '.join(symbols)} (orderbook.{depth}, publicTrade, tickers) "
                         f"from {network} into {out}" + ("" if seconds else "; Ctrl-C stops"))
    try:
        asyncio.run(main())
    finally:
        for w in writers.values():
            w.close()
        status(final=True)
    if stopped_by and stopped_by[0] == "interrupted":
        for path in (p for w in writers.values() for p in w.files):
            typer.echo(str(path))
        app.terminal.message("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED)
    return [p for w in writers.values() for p in w.files]
