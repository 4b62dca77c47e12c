"""The application context: secrets registered with it never reach a log line."""

from __future__ import annotations

import logging

import pytest

from bybit_mm.cli.context import AppContext


def test_registered_secrets_are_masked_in_logs(capfd: pytest.CaptureFixture[str]) -> None:
    app = AppContext(verbose=1)
    app.setup_logging()
    app.register_secret("super-secret-value", "")
    logging.getLogger("bybit_mm.test").info("signing with %s now", "super-secret-value")
    err = capfd.readouterr().err
    assert "signing with *** now" in err
    assert "super-secret-value" not in err


def test_profile_is_loaded_lazily_and_once(home) -> None:
    app = AppContext(profile_selector="paper")
    assert app._profile is None
    first = app.profile
    assert app.profile is first and first.is_paper


def test_use_profile_replaces_the_selected_profile(home) -> None:
    from dataclasses import replace

    app = AppContext(profile_selector="paper")
    overridden = replace(app.profile, market=replace(app.profile.market, symbol="ETHUSDT"))
    app.use_profile(overridden)
    assert app.profile is overridden and app.profile.market.symbol == "ETHUSDT"
