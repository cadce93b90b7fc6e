"""The README's quickstart DM runs as written: its block, copy-pasted into bash, against a real node."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from pathlib import Path

import pytest

from pyxmtp.node import Node

from .clirun import BASE_ENV

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.timeout(180)


def quickstart_block() -> str:
    text = README.read_text()
    match = re.search(r"<!-- quickstart:[^\n]*-->\n```\n(.*?)```", text, re.S)
    assert match, "README.md has no quickstart block"
    return match.group(1)


async def test_the_readme_quickstart_makes_a_dm_between_two_homes(node: Node, tmp_path: Path) -> None:
    block = quickstart_block()
    assert block.count("pyxmtp client") >= 4
    # the block's homes are under /tmp: here under this test's directory; `pyxmtp` is this Python's
    script = "set -euo pipefail\n" + block.replace("/tmp/", f"{tmp_path}/")
    prelude = f'pyxmtp() {{ {shlex.quote(sys.executable)} -m pyxmtp "$@"; }}\n'
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        prelude + script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**BASE_ENV, "PYXMTP_NODE": node.address},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert ": hello bob" in text  # bob read alice's message
    assert "dm with 0x" in text and "2 messages" in text  # alice's list: the DM, both messages
    assert "Traceback" not in err.decode()
