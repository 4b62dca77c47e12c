"""Market data at rest: readers for Bybit's history files and our recordings, the columnar
event cache, and the recorder. Everything here hands the rest of the program one thing: a
time-ordered numpy array of :data:`bybit_mm.data.events.EVENT_DTYPE` rows."""
