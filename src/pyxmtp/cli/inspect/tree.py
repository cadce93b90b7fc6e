"""What ``pyxmtp inspect`` prints: a tree of named values, and its two renderings (indented text, JSON).

The describe functions build :class:`Struct` values; nothing here knows about MLS or XMTP. A value is one of:

- ``None``, ``bool``, ``int``, ``str``, ``bytes`` (shown as hex, shortened in text unless asked otherwise);
- :class:`Named`: a code point with its meaning (``0x0003 (MLS_128_DHKEMX25519_...)``); JSON: the name if known,
  else the number;
- :class:`Timestamp`: seconds or nanoseconds since the Unix epoch, with the UTC date in text; JSON: the number;
- :class:`Secret`: key material, withheld unless ``show_secrets``;
- :class:`Nested`: bytes that hold another structure: the structure, and the bytes' length;
- :class:`Problem`: a part that does not decode or verify (the reason); the rest of the tree is still shown;
- :class:`Struct`: ordered named fields, with an optional title; a ``list`` of values.

Every ``str`` comes out through :func:`~pyxmtp.cli.terminal.safe_text` (text) or as ASCII-only JSON, so a peer's
strings cannot drive the terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Union

from ..terminal import safe_text

#: Bytes up to this length are shown in full in text; longer ones as head...tail.
SHORT_BYTES = 32
_HEAD = 16
_TAIL = 4
#: A list of at most this many scalars is written on one line.
_INLINE_ITEMS = 8


@dataclass(frozen=True, slots=True)
class Named:
    """A number with its meaning; ``name`` None: unknown. ``width`` > 0: shown as 0x hex of that many digits."""

    value: int
    name: str | None
    width: int = 0

    def number(self) -> str:
        return f"0x{self.value:0{self.width}x}" if self.width else str(self.value)


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A time since the Unix epoch in ``unit`` ("s" or "ns")."""

    value: int
    unit: str = "ns"


@dataclass(frozen=True, slots=True)
class Secret:
    """Key material: withheld unless secrets are shown."""

    value: bytes


@dataclass(frozen=True, slots=True)
class Problem:
    """This part does not decode; ``reason`` says why."""

    reason: str


@dataclass(slots=True)
class Struct:
    """Named fields in order. ``title`` names what this is (a type, a decoded meaning)."""

    title: str | None = None
    fields: list[tuple[str, Value]] = field(default_factory=list)

    def add(self, name: str, value: Value) -> Struct:
        self.fields.append((name, value))
        return self

    def get(self, name: str) -> Value:
        """The first field called ``name`` (KeyError if none)."""
        for key, value in self.fields:
            if key == name:
                return value
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Nested:
    """Bytes (``raw``) that decode to ``value``."""

    raw: bytes
    value: Struct


Value = Union[None, bool, int, str, bytes, Named, Timestamp, Secret, Problem, Nested, Struct, "list[Value]"]


# --- text -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextOptions:
    full_bytes: bool = False
    show_secrets: bool = False
    indent: str = "  "


def _hex(data: bytes, options: TextOptions) -> str:
    if not data:
        return "(empty)"
    if options.full_bytes or len(data) <= SHORT_BYTES:
        return f"{data.hex()} ({len(data)} bytes)"
    return f"{data[:_HEAD].hex()}...{data[-_TAIL:].hex()} ({len(data)} bytes)"


def _time(ts: Timestamp) -> str:
    seconds = ts.value / 1e9 if ts.unit == "ns" else ts.value
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ts.value} ({ts.unit}, out of range)"
    if ts.unit == "ns":
        return f"{ts.value} ({moment.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z)"
    return f"{ts.value} ({moment.strftime('%Y-%m-%dT%H:%M:%SZ')})"


def _string(text: str) -> str:
    if not text or text != text.strip():
        return '"' + safe_text(text) + '"'
    return safe_text(text)


def _scalar(value: Value, options: TextOptions) -> str | None:
    """One-line text of a scalar value, or None for a structure or list."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bytes):
        return _hex(value, options)
    if isinstance(value, Named):
        return f"{value.number()} ({safe_text(value.name) if value.name is not None else 'unknown'})"
    if isinstance(value, Timestamp):
        return _time(value)
    if isinstance(value, Secret):
        if options.show_secrets:
            return _hex(value.value, options)
        return f"(secret, {len(value.value)} bytes; --show-secrets prints it)"
    if isinstance(value, Problem):
        return f"invalid: {safe_text(value.reason)}"
    return None


def _lines(name: str, value: Value, depth: int, options: TextOptions, out: list[str]) -> None:
    pad = options.indent * depth
    name = safe_text(name)  # map keys come from the payload
    scalar = _scalar(value, options)
    if scalar is not None:
        out.append(f"{pad}{name}: {scalar}")
        return
    if isinstance(value, Nested):
        title = value.value.title or "decoded"
        out.append(f"{pad}{name}: {safe_text(title)}, {len(value.raw)} bytes")
        _struct_body(value.value, depth + 1, options, out)
        return
    if isinstance(value, Struct):
        out.append(f"{pad}{name}: {safe_text(value.title)}" if value.title else f"{pad}{name}:")
        _struct_body(value, depth + 1, options, out)
        return
    assert isinstance(value, list)
    if not value:
        out.append(f"{pad}{name}: []")
        return
    items = [_scalar(v, options) for v in value]
    if len(value) <= _INLINE_ITEMS and all(i is not None and len(i) < 80 for i in items):
        out.append(f"{pad}{name}: [{', '.join(i for i in items if i is not None)}]")
        return
    out.append(f"{pad}{name}: ({len(value)})")
    for index, item in enumerate(value):
        _lines(f"[{index}]", item, depth + 1, options, out)


def _struct_body(struct: Struct, depth: int, options: TextOptions, out: list[str]) -> None:
    for key, value in struct.fields:
        _lines(key, value, depth, options, out)


def render_text(struct: Struct, options: TextOptions | None = None) -> str:
    """The indented text of ``struct`` (its title on the first line)."""
    options = options or TextOptions()
    out = [safe_text(struct.title or "")] if struct.title else []
    _struct_body(struct, 1 if struct.title else 0, options, out)
    return "\n".join(out)


# --- JSON -------------------------------------------------------------------------------------------------------


def to_json(value: Value, *, show_secrets: bool = False) -> Any:
    """``value`` as JSON data: bytes as full lowercase hex, structures as objects, titles left out."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Named):
        return value.name if value.name is not None else value.value
    if isinstance(value, Timestamp):
        return value.value
    if isinstance(value, Secret):
        return value.value.hex() if show_secrets else {"secret": True, "length": len(value.value)}
    if isinstance(value, Problem):
        return {"error": value.reason}
    if isinstance(value, Nested):
        return {"hex": value.raw.hex(), "decoded": to_json(value.value, show_secrets=show_secrets)}
    if isinstance(value, Struct):
        out: dict[str, Any] = {}
        for key, item in value.fields:
            out[key] = to_json(item, show_secrets=show_secrets)
        return out
    return [to_json(item, show_secrets=show_secrets) for item in value]


def render_json(document: dict[str, Any]) -> str:
    """One JSON object, ASCII only (every non-ASCII and control character as a ``\\u`` escape)."""
    return json.dumps(document, ensure_ascii=True, indent=2)
