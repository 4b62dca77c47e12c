"""Pure quoting: models (Avellaneda-Stoikov, GLFT), online estimators, order shaping, Monte-Carlo.

Imports only ``bybit_mm.domain`` and numpy (numpy only in ``simulation``). Modules:
``models`` (:class:`~bybit_mm.quoting.models.Quote`, ``AvellanedaStoikov``, ``GLFT``),
``estimators`` (``VolatilityEstimator``, ``IntensityEstimator``), ``orders`` (``shape_orders``),
``simulation`` (the paper's experiment).
"""
