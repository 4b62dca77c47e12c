"""Typer commands: parse, build from the profile, call, render, exit code."""
