"""Pure futures values and math for Bybit linear perpetuals (stdlib only, no I/O)."""
