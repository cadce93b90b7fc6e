"""``pyxmtp node``: run an XMTP v3 node (placeholder until pyxmtp.node lands)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("node", help="run an XMTP v3 node (gRPC MlsApi + IdentityApi)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5556)
    p.add_argument("--data-dir", default="./pyxmtp-data")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("pyxmtp node: the node is not implemented yet; waiting until Ctrl-C", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    return 0
