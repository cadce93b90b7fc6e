"""JSON as libxmtp writes it (Rust ``serde_json``, compact), and a strict reader of a peer's JSON.

Writing: no whitespace, keys in the order given (libxmtp writes a struct's fields in declaration order), strings
with ``"``, ``\\`` and control characters escaped and everything else (non-ASCII included) as raw UTF-8, which is
what ``json.dumps(ensure_ascii=False)`` does. Floats differ: Rust prints the shortest round-trip digits
(``ryu``) as ``1.0``, ``1e16``, ``1e-7``, ``0.00001``, where Python prints ``1e+16`` and ``1e-07``;
:func:`format_f64` writes Rust's form. Non-finite floats and integers that fit neither i64 nor u64 cannot be
written (``serde_json`` has no JSON for the former and reads the latter as a float).

Reading: UTF-8 only, no ``NaN``/``Infinity`` literals or numbers beyond the float range, no lone surrogate
escapes (``serde_json`` refuses these too), integers beyond i64 and u64 read as floats (as ``serde_json`` reads
them), and no repeated key in an object (``serde_json`` refuses a repeated struct field; for a map it keeps the
last value, which we refuse rather than let two clients read different values). Every failure is a
:class:`ContentDecodeError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .codec import to_utf8, utf8
from .errors import ContentArgumentError, ContentDecodeError

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1


def format_f64(value: float) -> str:
    """``value`` as ``serde_json`` writes an ``f64`` (``ryu``'s shortest form); ContentArgumentError if not finite."""
    if not math.isfinite(value):
        raise ContentArgumentError(f"{value!r} has no JSON form")
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    digits = "".join(map(str, digit_tuple))
    length = len(digits)
    point = length + exponent  # the value is 0.<digits> x 10^point
    if exponent >= 0 and point <= 16:
        text = digits + "0" * exponent + ".0"
    elif 0 < point <= 16:
        text = digits[:point] + "." + digits[point:]
    elif -5 < point <= 0:
        text = "0." + "0" * -point + digits
    elif length == 1:
        text = f"{digits}e{point - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{point - 1}"
    return sign + text


def dumps(value: Any, what: str) -> str:
    """``value`` (None, bool, int, float, str, a Mapping with str keys, a list or tuple) as compact JSON.

    ContentArgumentError, naming ``what``, for anything else or a value that has no JSON form.
    """
    out: list[str] = []
    _write(value, out, what, 0)
    return "".join(out)


def dumps_bytes(value: Any, what: str) -> bytes:
    """:func:`dumps`, UTF-8 encoded."""
    return to_utf8(dumps(value, what), what)


def _write(value: Any, out: list[str], what: str, depth: int) -> None:
    if depth > 128:
        raise ContentArgumentError(f"{what} is nested deeper than 128 levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not _I64_MIN <= value <= _U64_MAX:
            raise ContentArgumentError(f"{what}: integer {value} fits neither i64 nor u64")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(format_f64(value))
    elif isinstance(value, str):
        to_utf8(value, what)
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise ContentArgumentError(f"{what}: object keys must be str, not {type(key).__name__}")
            if i:
                out.append(",")
            _write(key, out, what, depth + 1)
            out.append(":")
            _write(item, out, what, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, what, depth + 1)
        out.append("]")
    else:
        raise ContentArgumentError(f"{what}: a {type(value).__name__} has no JSON form")


# --- reading ------------------------------------------------------------------------------------------------
class _Refused(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:32]} is out of range")
    return value


def _int(text: str) -> int | float:
    value = int(text)
    if _I64_MIN <= value <= _U64_MAX:
        return value
    return _float(text)  # as serde_json: an integer beyond i64 and u64 is read as an f64


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Refused(f"key {key[:64]!r} appears twice")
        obj[key] = value
    return obj


def loads(data: bytes, structure: str) -> Any:
    """The JSON value in ``data``; ContentDecodeError naming ``structure`` if it is not strict JSON."""
    text = utf8(data, structure)
    try:
        value = json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_float,
            parse_int=_int,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, _Refused, int() digit limit
        raise ContentDecodeError(structure, f"content is not JSON: {exc}") from exc
    _check_strings(value, structure)
    return value


def _check_strings(value: Any, structure: str) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_str(item, structure)
        elif isinstance(item, dict):
            for key, sub in item.items():
                _check_str(key, structure)
                stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)


def _check_str(text: str, structure: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ContentDecodeError(structure, "a string holds a lone surrogate escape") from exc


# --- typed field access for decoders (serde's rules) --------------------------------------------------------
def as_object(value: Any, structure: str, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        raise ContentDecodeError(structure, f"{what} is not a JSON object")
    return value


def load_object(data: bytes, structure: str) -> dict[str, Any]:
    """The JSON object that ``data`` (a content body) holds (see :func:`loads`)."""
    return as_object(loads(data, structure), structure, "content")


def as_list(value: Any, structure: str, what: str) -> list[Any]:
    """``value`` if it is a JSON array."""
    if not isinstance(value, list):
        raise ContentDecodeError(structure, f"{what} is not a JSON array")
    return value


def req_str(obj: Mapping[str, Any], key: str, structure: str) -> str:
    """A required string field (missing or null is an error)."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise ContentDecodeError(structure, f"field {key!r} is missing or not a string")
    return value


def opt_str(obj: Mapping[str, Any], key: str, structure: str) -> str | None:
    """An optional string field (missing or null: None)."""
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ContentDecodeError(structure, f"field {key!r} is not a string")
    return value


def aliased(obj: Mapping[str, Any], key: str, alias: str, structure: str) -> Any:
    """The value under ``key`` or its alias (both present is an error, as serde's duplicate field)."""
    if key in obj and alias in obj:
        raise ContentDecodeError(structure, f"fields {key!r} and {alias!r} are both present")
    return obj.get(key, obj.get(alias))


def str_map(value: Any, structure: str, what: str) -> dict[str, str]:
    """A JSON object whose values are all strings."""
    obj = as_object(value, structure, what)
    for key, item in obj.items():
        if not isinstance(item, str):
            raise ContentDecodeError(structure, f"{what}[{key[:64]!r}] is not a string")
    return dict(obj)


def check_str_map(value: Mapping[str, str], what: str) -> None:
    """ContentArgumentError unless ``value`` maps str to str."""
    if not isinstance(value, Mapping):
        raise ContentArgumentError(f"{what} must be a mapping of str to str")
    for key, item in value.items():
        to_utf8(key, f"{what} key")
        to_utf8(item, f"{what}[{key!r}]")


def check_sequence(value: object, what: str) -> Sequence[Any]:
    """``value`` if it is a list or tuple (not a str), else ContentArgumentError."""
    if not isinstance(value, list | tuple):
        raise ContentArgumentError(f"{what} must be a list or tuple, not {type(value).__name__}")
    return value
