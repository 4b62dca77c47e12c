"""Typed, validated TOML profiles; locations; secrets resolution and scrubbing."""
