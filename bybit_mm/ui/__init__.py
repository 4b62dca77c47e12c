"""Rich rendering: consoles, JSON output and table builders."""
