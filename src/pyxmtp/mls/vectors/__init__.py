"""Runners for the official IETF MLS test vectors (mlswg/mls-implementations, ``test-vectors/``).

Each vector kind has a module here with ``check(case: dict) -> None`` that raises :class:`VectorMismatch`
(or any :class:`~pyxmtp.mls.errors.MLSError`) when our implementation disagrees with the case.
:func:`run_file` recognises the kind from the file name or, failing that, from the keys of its cases, runs
every case and reports per-case results. ``pyxmtp mls vectors FILE...`` and the test suite both use it.
"""

from __future__ import annotations

import importlib
import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Case = dict[str, Any]


class VectorMismatch(AssertionError):
    """Our result differs from the vector's."""


def expect(name: str, got: object, want: object) -> None:
    """Raise :class:`VectorMismatch` naming ``name`` unless ``got == want`` (bytes shown as hex)."""
    if got != want:
        raise VectorMismatch(f"{name}: got {_show(got)}, want {_show(want)}")


def _show(v: object) -> str:
    if isinstance(v, bytes | bytearray):
        h = bytes(v).hex()
        return h if len(h) <= 80 else f"{h[:72]}...({len(v)} bytes)"
    return repr(v)


# kind -> (module, keys that identify a case of that kind)
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "tree-math": ("tree_math", frozenset({"n_leaves", "left", "right", "parent", "sibling"})),
    "crypto-basics": ("crypto_basics", frozenset({"ref_hash", "expand_with_label", "sign_with_label"})),
    "secret-tree": ("secret_tree", frozenset({"sender_data", "leaves", "encryption_secret"})),
    "message-protection": (
        "message_protection",
        frozenset({"proposal_priv", "commit_priv", "application_priv"}),
    ),
    "key-schedule": ("key_schedule", frozenset({"initial_init_secret", "epochs", "group_id"})),
    "psk_secret": ("psk_secret", frozenset({"psks", "psk_secret"})),
    "transcript-hashes": ("transcript_hashes", frozenset({"confirmation_key", "authenticated_content"})),
    "welcome": ("welcome", frozenset({"init_priv", "signer_pub", "key_package", "welcome"})),
    "tree-operations": ("tree_operations", frozenset({"tree_before", "proposal", "tree_after"})),
    "tree-validation": ("tree_validation", frozenset({"resolutions", "tree_hashes", "tree"})),
    "treekem": ("treekem", frozenset({"update_paths", "leaves_private", "ratchet_tree"})),
    "messages": ("messages", frozenset({"mls_welcome", "mls_group_info", "mls_key_package"})),
    "deserialization": ("deserialization", frozenset({"vlbytes_header", "length"})),
    "passive-client": ("passive_client", frozenset({"initial_epoch_authenticator", "epochs", "key_package"})),
}

# file stems that name a kind directly
_FILE_NAMES = {
    "passive-client-welcome": "passive-client",
    "passive-client-handling-commit": "passive-client",
    "passive-client-random": "passive-client",
}


@dataclass
class CaseResult:
    index: int
    ok: bool
    cipher_suite: int | None = None
    reason: str = ""


@dataclass
class FileResult:
    path: str
    kind: str
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(c.ok for c in self.cases)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def ok(self) -> bool:
        return self.passed == self.total and self.total > 0

    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]


class UnknownVectorFile(ValueError):
    """The file is not in a recognised official test-vector format."""


def detect_kind(path: str | os.PathLike[str], cases: list[Case]) -> str:
    stem = Path(path).stem
    if stem in KINDS:
        return stem
    if stem in _FILE_NAMES:
        return _FILE_NAMES[stem]
    if cases and isinstance(cases[0], dict):
        keys = set(cases[0])
        best = [k for k, (_, sig) in KINDS.items() if sig <= keys]
        if len(best) == 1:
            return best[0]
        if len(best) > 1:  # the most specific signature wins
            return max(best, key=lambda k: len(KINDS[k][1]))
    raise UnknownVectorFile(f"{path}: not a recognised MLS test-vector file")


def checker(kind: str) -> Callable[[Case], None]:
    module = importlib.import_module(f"{__name__}.{KINDS[kind][0]}")
    fn: Callable[[Case], None] = module.check
    return fn


def run_cases(kind: str, cases: list[Case], path: str = "<cases>") -> FileResult:
    result = FileResult(path=path, kind=kind)
    try:
        check = checker(kind)
    except ImportError as exc:
        reason = f"no runner for {kind} vectors: {exc}"
        result.cases = [CaseResult(i, False, c.get("cipher_suite"), reason) for i, c in enumerate(cases)]
        return result
    for i, case in enumerate(cases):
        suite = case.get("cipher_suite")
        try:
            check(case)
        except Exception as exc:  # every failure is reported per case, never aborts the file
            reason = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, AssertionError | ValueError | KeyError) and os.environ.get(
                "PYXMTP_VECTOR_TRACE"
            ):
                reason += "\n" + traceback.format_exc()
            result.cases.append(CaseResult(i, False, suite, reason))
        else:
            result.cases.append(CaseResult(i, True, suite))
    return result


def load(path: str | os.PathLike[str]) -> list[Case]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise UnknownVectorFile(f"{path}: expected a JSON array of cases")
    return data


def run_file(path: str | os.PathLike[str]) -> FileResult:
    cases = load(path)
    return run_cases(detect_kind(path, cases), cases, str(path))


def default_dir() -> Path | None:
    """``$MLS_TEST_VECTORS`` if set, else ``../shared/vectors/mls`` from the working directory or the repo."""
    env = os.environ.get("MLS_TEST_VECTORS")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[4]):
        candidate = base.parent / "shared" / "vectors" / "mls"
        if candidate.is_dir():
            return candidate
    return None
