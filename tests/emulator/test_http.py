"""The wire format seen without ccxt: envelope, PreLaunch, 404, rate-limit headers, pagination."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from bybit_mm.emulator.auth import sign


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def _signed_get(emu, path: str, query: str) -> tuple[int, dict[str, str], Any]:
    ts = str(int(time.time() * 1000))
    headers = {"X-BAPI-API-KEY": emu.api_key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000",
               "X-BAPI-SIGN": sign(emu.api_secret, ts, emu.api_key, "5000", query)}
    return _get(f"{emu.url}{path}?{query}", headers)


def test_envelope_and_prelaunch(emu) -> None:
    status, _, body = _get(f"{emu.url}/v5/market/instruments-info?category=linear&status=PreLaunch&limit=1000")
    assert status == 200
    assert body["retCode"] == 0 and body["retMsg"] == "OK" and body["retExtInfo"] == {}
    assert body["time"] == emu.clock.now_ms()
    assert body["result"] == {"category": "linear", "list": [], "nextPageCursor": ""}


def test_instruments_paginate_and_numbers_are_strings(emu) -> None:
    _, _, first = _get(f"{emu.url}/v5/market/instruments-info?category=linear&limit=1")
    cursor = first["result"]["nextPageCursor"]
    _, _, second = _get(f"{emu.url}/v5/market/instruments-info?category=linear&limit=1&cursor={cursor}")
    symbols = [i["symbol"] for i in first["result"]["list"] + second["result"]["list"]]
    assert symbols == ["BTCUSDT", "ETHUSDT"] and second["result"]["nextPageCursor"] == ""
    tick = first["result"]["list"][0]["priceFilter"]["tickSize"]
    assert isinstance(tick, str)


def test_unknown_path_wrong_category_and_missing_symbol(emu) -> None:
    assert _get(f"{emu.url}/v5/nope")[0] == 404
    _, _, body = _get(f"{emu.url}/v5/market/tickers?category=spot&symbol=BTCUSDT")
    assert body["retCode"] == 10001
    _, _, body = _get(f"{emu.url}/v5/market/orderbook?category=linear")
    assert body["retCode"] == 10001
    _, _, body = _get(f"{emu.url}/v5/market/orderbook?category=linear&symbol=DOGEUSDT")
    assert body["retCode"] == 10001


def test_private_responses_carry_rate_limit_headers(emu) -> None:
    query = "category=linear&symbol=BTCUSDT"
    status, headers, body = _signed_get(emu, "/v5/position/list", query)
    assert status == 200 and body["retCode"] == 0
    assert headers["X-Bapi-Limit"] == "50" and headers["X-Bapi-Limit-Status"] == "49"
    assert int(headers["X-Bapi-Limit-Reset-Timestamp"]) > 0
    _, headers, _ = _signed_get(emu, "/v5/position/list", query)
    assert headers["X-Bapi-Limit-Status"] == "48"


def test_signature_covers_the_raw_query_as_sent(emu) -> None:
    query = "symbol=BTCUSDT&category=linear"  # not sorted: must still verify as sent
    _, _, body = _signed_get(emu, "/v5/account/fee-rate", query)
    assert body["retCode"] == 0 and body["result"]["list"][0]["symbol"] == "BTCUSDT"
    ts = str(int(time.time() * 1000))
    headers = {"X-BAPI-API-KEY": emu.api_key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000",
               "X-BAPI-SIGN": sign(emu.api_secret, ts, emu.api_key, "5000", "category=linear&symbol=BTCUSDT")}
    _, _, body = _get(f"{emu.url}/v5/account/fee-rate?{query}", headers)
    assert body["retCode"] == 10004


def _signed_post(emu, path: str, body: bytes) -> tuple[int, Any]:
    ts = str(int(time.time() * 1000))
    headers = {"X-BAPI-API-KEY": emu.api_key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000",
               "X-BAPI-SIGN": sign(emu.api_secret, ts, emu.api_key, "5000", body.decode("latin-1")),
               "Content-Type": "application/json"}
    req = urllib.request.Request(f"{emu.url}{path}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_malformed_input_gets_bybits_envelope_not_http_500(emu) -> None:
    """Found by fuzzing every route: a body that is not UTF-8 and a number beyond any range."""
    status, body = _signed_post(emu, "/v5/order/create", b"\xff\xfe")
    assert status == 200 and body["retCode"] == 10001
    order = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
             "price": "1e400"}
    status, body = _signed_post(emu, "/v5/order/create", json.dumps(order).encode())
    assert status == 200 and body["retCode"] == 10001 and "price" in body["retMsg"]


def test_public_responses_carry_the_ip_limit_headers(emu) -> None:
    # docs v5/rate-limit: "Every request to the API returns" the X-Bapi-Limit* headers.
    before = int(time.time() * 1000)
    status, headers, _ = _get(f"{emu.url}/v5/market/tickers?category=linear&symbol=BTCUSDT")
    assert status == 200 and headers["X-Bapi-Limit"] == "600"
    assert 0 <= int(headers["X-Bapi-Limit-Status"]) < 600
    assert before <= int(headers["X-Bapi-Limit-Reset-Timestamp"]) <= int(time.time() * 1000)
