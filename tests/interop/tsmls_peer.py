"""Drive the ts-mls peer (tests/interop/tsmls/harness.mjs) from Python over JSON lines.

`TsMlsHarness.start()` spawns one `node harness.mjs` process; `rpc(op, **kw)` sends one request and returns
the reply's fields. Byte-string arguments may be passed as `bytes` (they are sent as hex); replies carry hex
strings, exactly as the harness wrote them. A reply with `ok: false` raises `HarnessError`.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

TSMLS_DIR = Path(__file__).resolve().parent / "tsmls"
HARNESS = TSMLS_DIR / "harness.mjs"
TSMLS_VERSION = "1.6.4"
INSTALL_HINT = "run `bash scripts/setup_interop.sh` (needs node >= 20 and npm registry access)"
RPC_TIMEOUT_S = 60.0


class HarnessUnavailable(Exception):
    """node or the pinned npm packages are missing; the message says what to do."""


class HarnessError(Exception):
    """ts-mls refused a request (the harness replied ok: false)."""

    def __init__(self, op: str, error: str) -> None:
        super().__init__(f"ts-mls {op}: {error}")
        self.op = op
        self.error = error


def _hexify(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_hexify(v) for v in value]
    if isinstance(value, dict):
        return {k: _hexify(v) for k, v in value.items()}
    return value


def unavailable_reason() -> str | None:
    """Why the harness cannot start here, or None when node and the pinned packages are present."""
    node = shutil.which("node")
    if node is None:
        return f"node not found on PATH; {INSTALL_HINT}"
    pkg = TSMLS_DIR / "node_modules" / "ts-mls" / "package.json"
    if not pkg.is_file():
        return f"ts-mls is not installed in {TSMLS_DIR / 'node_modules'}; {INSTALL_HINT}"
    version = json.loads(pkg.read_text()).get("version")
    if version != TSMLS_VERSION:
        return f"installed ts-mls is {version}, tests need {TSMLS_VERSION}; {INSTALL_HINT}"
    return None


class TsMlsHarness:
    """One running harness process; not thread-safe (one request in flight at a time)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._next_id = 1
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    @classmethod
    def start(cls) -> TsMlsHarness:
        reason = unavailable_reason()
        if reason is not None:
            raise HarnessUnavailable(reason)
        proc = subprocess.Popen(
            [shutil.which("node") or "node", str(HARNESS)],
            cwd=TSMLS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        harness = cls(proc)
        try:
            hello = harness.rpc("hello")
        except Exception as e:
            harness.close()
            raise HarnessUnavailable(f"ts-mls harness did not start: {e}") from e
        if hello.get("ts_mls") != TSMLS_VERSION:
            harness.close()
            raise HarnessUnavailable(f"harness reports ts-mls {hello.get('ts_mls')}, want {TSMLS_VERSION}")
        return harness

    def _pump_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _pump_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def rpc(self, op: str, **kw: Any) -> dict[str, Any]:
        """Send one request; return the reply without its `id`/`ok` fields."""
        req_id = self._next_id
        self._next_id += 1
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps({"id": req_id, "op": op, **_hexify(kw)}) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError as e:
            raise RuntimeError(f"ts-mls harness is gone; stderr: {''.join(self._stderr)[-2000:]}") from e
        try:
            line = self._replies.get(timeout=RPC_TIMEOUT_S)
        except queue.Empty as e:
            raise TimeoutError(f"ts-mls harness gave no reply to {op} within {RPC_TIMEOUT_S} s") from e
        if line is None:
            raise RuntimeError(f"ts-mls harness exited; stderr: {''.join(self._stderr)[-2000:]}")
        reply: dict[str, Any] = json.loads(line)
        if reply.pop("id", None) != req_id:
            raise RuntimeError(f"ts-mls harness reply out of order: {line!r}")
        if not reply.pop("ok", False):
            raise HarnessError(op, str(reply.get("error")))
        return reply

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
