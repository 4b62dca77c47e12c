"""`bybit-mm profile ...`: where profiles live, list, show, init, set and migrate."""

from __future__ import annotations

from typing import Optional

import typer

from bybit_mm.cli.context import app_context

profile_app = typer.Typer(
    no_args_is_help=True,
    help="Manage TOML profiles (network, symbol, leverage, quoting, risk and paper settings).",
)


@profile_app.command("path")
def path_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print where profiles and data live (BYBIT_MM_HOME overrides both)."""
    from bybit_mm.config import paths

    term = app_context(ctx).terminal
    data = {"profiles": str(paths.profiles_dir()), "data": str(paths.data_dir()),
            "templates": str(paths.templates_dir())}
    if as_json:
        term.json(data)
    else:
        term.out.print(data["profiles"], highlight=False, soft_wrap=True)


@profile_app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List your profiles, and the shipped templates `profile init` can copy."""
    from bybit_mm.config import paths, profiles

    term = app_context(ctx).terminal
    rows = []
    for name in profiles.list_names():
        path = profiles.profile_path(name)
        try:
            p = profiles.load_file(path, name)
            rows.append({"name": name, "kind": "profile", "network": p.exchange.network,
                         "account": p.exchange.account, "symbol": p.market.symbol,
                         "leverage": p.market.leverage, "path": str(path), "error": None})
        except Exception as e:  # a broken profile is listed, not fatal
            rows.append({"name": name, "kind": "profile", "network": None, "account": None, "symbol": None,
                         "leverage": None, "path": str(path), "error": getattr(e, "message", str(e))})
    for name, path in profiles.templates().items():
        p = profiles.load_file(path, name)
        rows.append({"name": name, "kind": "template", "network": p.exchange.network,
                     "account": p.exchange.account, "symbol": p.market.symbol,
                     "leverage": p.market.leverage, "path": str(path), "error": None})
    if as_json:
        term.json(rows)
        return
    from rich.table import Table

    table = Table(title=f"profiles in {paths.profiles_dir()}", title_justify="left")
    for col in ("name", "kind", "network", "account", "symbol", "leverage"):
        table.add_column(col)
    for r in rows:
        if r["error"]:
            table.add_row(r["name"], r["kind"], f"[red]invalid: {r['error']}[/red]", "", "", "")
        else:
            table.add_row(r["name"], r["kind"], r["network"], r["account"], r["symbol"], f"{r['leverage']:g}x")
    term.out.print(table)


@profile_app.command("show")
def show_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Profile name or path; default: the --profile in use."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a profile with every default filled in. Secrets are never shown, only whether they are set."""
    from bybit_mm.config import profiles

    app = app_context(ctx)
    profile = profiles.resolve(name) if name else app.profile
    data = profiles.scrubbed(profile)
    if as_json:
        app.terminal.json(data)
        return
    from rich.table import Table

    table = Table(title=f"profile {profile.name} ({profile.path})", title_justify="left", show_header=False)
    table.add_column("key")
    table.add_column("value")
    for section, body in data.items():
        if isinstance(body, dict):
            for key, value in body.items():
                table.add_row(f"{section}.{key}", repr(value) if isinstance(value, str) else str(value))
    app.terminal.out.print(table)


@profile_app.command("init")
def init_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the new profile."),
    template: Optional[str] = typer.Option(None, "--from", "-f",
                                           help="Template to copy: paper, testnet, mainnet, demo or emulator "
                                                "(default: the template named NAME if there is one, else paper)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing profile."),
) -> None:
    """Create a profile from a shipped template."""
    from bybit_mm.config import profiles

    template = template or profiles.default_template(name)
    path = profiles.init(name, template, force=force)
    app_context(ctx).terminal.message(f"created profile {name!r} from template {template!r} at {path}")


@profile_app.command("set")
def set_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Profile name."),
    key: str = typer.Argument(..., help="Dotted key, e.g. market.leverage or risk.liquidation_threshold."),
    value: str = typer.Argument(..., help="New value; typed and validated against the key."),
) -> None:
    """Set one key of a profile (validated, written atomically; comments in the file are not kept)."""
    from bybit_mm.config import profiles

    _, typed = profiles.set_value(name, key, value)
    app_context(ctx).terminal.message(f"{name}: {key} = {typed!r}")


@profile_app.command("migrate")
def migrate_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Profile name or path."),
) -> None:
    """Rewrite deprecated keys as their successors (quoting.gamma -> quoting.risk_aversion), with a note
    saying what each became (comments in the file are not kept)."""
    from bybit_mm.config import profiles

    path, notes = profiles.migrate_profile(name)
    term = app_context(ctx).terminal
    for note in notes:
        term.message(f"migrated {note.replace(' is deprecated: read as ', ' -> ').replace(' is deprecated and ignored', ' removed')}")
    if not notes:
        term.message(f"{path}: nothing to migrate")


def register(app: typer.Typer) -> None:
    """Add the `profile` group to the root app."""
    app.add_typer(profile_app, name="profile")
