"""Running ``pyxmtp client`` as a user does: real processes (``python -m pyxmtp``) against a real node."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyxmtp.node import Node

#: The environment of every CLI process: none of the user's PYXMTP_* settings leak in.
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYXMTP_")}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The one JSON object printed."""
        [obj] = self.lines()
        return obj

    def lines(self) -> list[Any]:
        """The JSON objects printed, one per line."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


async def run(
    *args: str,
    check: bool = True,
    env: dict[str, str | None] | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
) -> Result:
    """``python -m pyxmtp ARGS``: its exit status and output (``check``: it must succeed). ``env`` adds to
    :data:`BASE_ENV` (None: unset)."""
    merged = {k: v for k, v in {**BASE_ENV, **(env or {})}.items() if v is not None}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyxmtp",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=merged,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode is not None
    result = Result(proc.returncode, out.decode(), err.decode())
    if check:
        assert result.code == 0, f"pyxmtp {' '.join(args)} failed ({result.code}): {result.err}"
    assert "Traceback" not in result.err, result.err
    return result


class User:
    """One person with one home, running ``pyxmtp client`` commands against ``node``."""

    def __init__(self, node: Node, home: Path) -> None:
        self.node = node
        self.home = home
        self.inbox_id = ""
        self.address = ""

    async def __call__(self, *args: str, check: bool = True, stdin: bytes | None = None) -> Result:
        return await run(
            "client", "--home", str(self.home), "--node", self.node.address, *args, check=check, stdin=stdin
        )

    def argv(self, *args: str) -> list[str]:
        """The command line of ``pyxmtp client ARGS`` for this user (run it with :data:`BASE_ENV`)."""
        return [
            sys.executable,
            "-m",
            "pyxmtp",
            "client",
            "--home",
            str(self.home),
            "--node",
            self.node.address,
            *args,
        ]

    async def json(self, *args: str) -> Any:
        return (await self(*args, "--json")).json()

    async def lines(self, *args: str) -> list[Any]:
        return (await self(*args, "--json")).lines()

    async def init(self) -> User:
        me = await self.json("init")
        self.inbox_id, self.address = me["inbox_id"], me["address"]
        return self


async def users(node: Node, tmp_path: Path, *names: str) -> list[User]:
    return list(await asyncio.gather(*(User(node, tmp_path / n).init() for n in names)))
