"""The one error of ``pyxmtp inspect``'s decoders: this input is not that kind of payload."""

from __future__ import annotations


class InspectError(Exception):
    """``what`` (the structure, a path into it) does not decode; ``reason`` says why and where."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")
