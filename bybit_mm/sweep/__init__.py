"""Parameter sweeps: many backtests of one profile with some keys varied, over many data sets.

:mod:`.grid` expands ``--grid``/``--range`` into combinations (validated by the profile schema),
:mod:`.task` runs one backtest and measures it, :mod:`.runner` runs the tasks on a local process
pool or a Ray cluster, :mod:`.store` keeps finished rows (resumable) and :mod:`.table` aggregates
them per combination. Rendering is the CLI's (``bybit_mm.cli.sweep``).
"""
