"""Bybit V5's wire format: the envelope, API errors, and numbers as strings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


OK_MSG = "OK"
#: USDT amounts (margins, PnL, balances, fees, values) carry 8 decimals on Bybit's unified account
#: (e.g. ``"cashBalance": "5086.55825002"`` in account/transaction-log, ``"positionIM":
#: "0.00010923"`` in position/position).
MONEY_STEP = Decimal("0.00000001")


class ApiError(Exception):
    """A request answered with a non-zero retCode (HTTP 200 unless ``http_status`` says otherwise)."""

    def __init__(self, ret_code: int, message: str, *, http_status: int = 200) -> None:
        super().__init__(f"{message} (retCode {ret_code})")
        self.ret_code = ret_code
        self.message = message
        self.http_status = http_status


def params_error(message: str) -> ApiError:
    """Bybit's generic 10001 for a missing or malformed parameter."""
    return ApiError(10001, message)


@dataclass(frozen=True)
class WithExtInfo:
    """A handler's result that also fills the envelope's ``retExtInfo`` (the batch endpoints)."""

    result: Any
    ext_info: dict[str, Any]


def envelope(result: Any, time_ms: int, *, ret_code: int = 0, ret_msg: str = OK_MSG) -> dict[str, Any]:
    """``{"retCode","retMsg","result","retExtInfo","time"}`` as every V5 endpoint answers."""
    ext: dict[str, Any] = {}
    if isinstance(result, WithExtInfo):
        result, ext = result.result, result.ext_info
    return {"retCode": ret_code, "retMsg": ret_msg, "result": result if result is not None else {},
            "retExtInfo": ext, "time": int(time_ms)}


def num(value: Decimal | int | float | None) -> str:
    """A number as Bybit sends it: a plain decimal string (no exponent); ``""`` for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    if isinstance(value, int):
        return str(value)
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    return text


def money(value: Decimal | None) -> str:
    """A USDT amount as Bybit sends it: rounded half-up to 8 decimals (``MONEY_STEP``)."""
    if value is None:
        return ""
    return num(value.quantize(MONEY_STEP, ROUND_HALF_UP))
