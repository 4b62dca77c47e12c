"""The emulator's sim-independent parts: signing, rate limits, faults, parameters, numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybit_mm.emulator.auth import Authenticator, sign
from bybit_mm.emulator.faults import FaultInjector
from bybit_mm.emulator.params import Params, page, parse_body
from bybit_mm.emulator.ratelimit import RateLimiter, endpoint_limit
from bybit_mm.emulator.wire import ApiError, envelope, num

NOW = 1_767_225_600_000


def _headers(key: str, secret: str, ts: int, payload: str, window: str = "5000") -> dict[str, str]:
    return {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-RECV-WINDOW": window,
            "X-BAPI-SIGN": sign(secret, str(ts), key, window, payload)}


def test_sign_matches_bybit_documented_construction() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"1672281605082k5000category=linear&symbol=BTCUSDT",
                        hashlib.sha256).hexdigest()
    assert sign("s3cret", "1672281605082", "k", "5000", "category=linear&symbol=BTCUSDT") == expected


def test_auth_accepts_a_good_signature_and_names_the_key() -> None:
    auth = Authenticator({"k": "s"}, now_ms=lambda: NOW)
    assert auth.verify(_headers("k", "s", NOW - 10, '{"a":1}'), '{"a":1}') == "k"


@pytest.mark.parametrize("headers,payload,code", [
    (_headers("nope", "s", NOW, "x"), "x", 10003),
    ({}, "", 10003),
    (_headers("k", "wrong", NOW, "x"), "x", 10004),
    (_headers("k", "s", NOW, "x"), "x-tampered", 10004),
    (_headers("k", "s", NOW - 5001, "x"), "x", 10002),
    (_headers("k", "s", NOW + 1000, "x"), "x", 10002),
    (_headers("k", "s", NOW - 20_000, "x", window="30000"), "x", None),
    ({"X-BAPI-API-KEY": "k", "X-BAPI-TIMESTAMP": "soon"}, "", 10002),
])
def test_auth_rejects_as_bybit(headers: dict[str, str], payload: str, code: int | None) -> None:
    auth = Authenticator({"k": "s"}, now_ms=lambda: NOW)
    if code is None:
        assert auth.verify(headers, payload) == "k"
        return
    with pytest.raises(ApiError) as e:
        auth.verify(headers, payload)
    assert e.value.ret_code == code


def test_endpoint_limit_counts_down_and_resets_after_a_second() -> None:
    now = [NOW]
    limiter = RateLimiter(now_ms=lambda: now[0])
    statuses = [limiter.check_endpoint("k", "POST", "/v5/order/create") for _ in range(11)]
    assert [s.allowed for s in statuses] == [True] * 10 + [False]
    assert [s.remaining for s in statuses[:3]] == [9, 8, 7]
    assert statuses[0].reset_ms == NOW  # not exceeded: "just the current timestamp" (docs)
    assert statuses[-1].headers() == {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                                      "X-Bapi-Limit-Reset-Timestamp": str(NOW + 1000)}
    assert limiter.check_endpoint("other", "POST", "/v5/order/create").allowed  # per key
    now[0] += 1000
    assert limiter.check_endpoint("k", "POST", "/v5/order/create").allowed


def test_endpoint_limits_follow_bybit_table() -> None:
    assert endpoint_limit("POST", "/v5/order/amend") == 10
    assert endpoint_limit("GET", "/v5/position/list") == 50
    assert endpoint_limit("GET", "/v5/execution/list") == 50


def test_disabled_limiter_allows_everything_but_still_reports() -> None:
    limiter = RateLimiter(now_ms=lambda: NOW, enabled=False)
    assert all(limiter.check_endpoint("k", "POST", "/v5/order/create").allowed for _ in range(50))


def test_ip_limit_is_600_per_5_seconds() -> None:
    limiter = RateLimiter(now_ms=lambda: NOW)
    results = [limiter.check_ip("1.2.3.4").allowed for _ in range(601)]
    assert results.count(True) == 600 and results[-1] is False


def test_faults_are_seeded_and_respect_the_rate() -> None:
    a = FaultInjector(0.3, seed=7)
    b = FaultInjector(0.3, seed=7)
    seq_a = [a.decide(mutating=True) for _ in range(500)]
    assert seq_a == [b.decide(mutating=True) for _ in range(500)]
    faults = [f for f in seq_a if f is not None]
    assert 100 < len(faults) < 200
    assert {f.kind for f in faults} == {"http_5xx", "system_error", "rate_limit", "timeout"}
    assert all(not f.applied for f in faults if f.kind == "rate_limit")
    assert {f.applied for f in faults if f.kind != "rate_limit"} == {True, False}
    assert {f.http_status for f in faults if f.kind == "http_5xx"} <= {502, 503}


def test_no_faults_at_rate_zero_and_reads_are_always_applied() -> None:
    assert all(FaultInjector(0.0).decide(mutating=True) is None for _ in range(100))
    reads = [FaultInjector(1.0, seed=s).decide(mutating=False) for s in range(50)]
    assert all(f is not None and (f.applied or f.kind == "rate_limit") for f in reads)


def test_params_types_and_errors() -> None:
    p = Params({"qty": "0.010", "n": 5, "flag": True, "s": "x", "empty": ""})
    assert p.decimal("qty") == Decimal("0.010")
    assert p.integer("n", lo=1, hi=10) == 5
    assert p.boolean("flag") is True and p.boolean("missing") is False
    assert p.string("empty") is None and "empty" not in p
    for call in (lambda: p.decimal("s"), lambda: p.integer("n", hi=4), lambda: p.req("missing"),
                 lambda: Params({"category": "spot"}).category(),
                 lambda: Params({"orderLinkId": "bad id!"}).order_link_id(),
                 lambda: Params({"qty": "-1"}).decimal("qty"),
                 lambda: Params({"price": "1e400"}).decimal("price"),
                 lambda: Params({"price": "1e-30"}).decimal("price")):
        with pytest.raises(ApiError) as e:
            call()
        assert e.value.ret_code == 10001


def test_page_walks_a_list_with_cursors() -> None:
    items = list(range(7))
    first, cursor = page(items, Params({"limit": "3"}), default_limit=20, max_limit=50)
    assert first == [0, 1, 2] and cursor and not cursor.isdigit()  # opaque, as Bybit's
    for bad in ("3", "garbage", "!!"):
        with pytest.raises(ApiError):
            page(items, Params({"cursor": bad}), default_limit=20, max_limit=50)
    second, cursor = page(items, Params({"limit": "3", "cursor": cursor}), default_limit=20, max_limit=50)
    third, end = page(items, Params({"limit": "3", "cursor": cursor}), default_limit=20, max_limit=50)
    assert second == [3, 4, 5] and third == [6] and end == ""


def test_parse_body() -> None:
    assert parse_body("") == {}
    assert parse_body('{"a": "1"}') == {"a": "1"}
    for bad in ("[1]", "{"):
        with pytest.raises(ApiError):
            parse_body(bad)


def test_numbers_are_plain_strings_and_the_envelope_is_bybits() -> None:
    assert num(Decimal("1E+2")) == "100"
    assert num(Decimal("0.00055")) == "0.00055"
    assert num(Decimal("-0.0")) == "0"
    assert num(None) == "" and num(3) == "3"
    assert envelope({"a": 1}, 5) == {"retCode": 0, "retMsg": "OK", "result": {"a": 1},
                                     "retExtInfo": {}, "time": 5}
