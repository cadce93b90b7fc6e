"""``pyxmtp inspect``: decode any MLS or XMTP payload and print it as a readable tree or as JSON.

::

    pyxmtp inspect 0001000500010003...            # hex, or base64 (standard or URL-safe, padding optional)
    pyxmtp inspect @welcome.bin                   # a file (raw bytes, or hex / base64 text); also a plain path
    pyxmtp inspect --type key-package - < kp.hex  # stdin; --type skips the guessing
    pyxmtp inspect --json MSG                     # one JSON object, bytes as hex
    pyxmtp inspect --home ~/.pyxmtp MSG           # also what that installation can decrypt (nothing is written)
    pyxmtp inspect --home ~/.pyxmtp --node HOST:PORT POINTER   # ... fetching a welcome pointer's pointee

Without ``--type`` the strict decoders are tried in order, most specific first; the first that decodes every
byte is shown, and the output says it was a guess and which other kinds the bytes also decode as. Input that no
decoder accepts (damaged, truncated, unknown) gives ``pyxmtp inspect: cannot decode ...: <what and where>`` on
stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import grpc

from pyxmtp.client.api import ApiCallError, NodeApi
from pyxmtp.mls.errors import MLSError

from .hexkey import env_database_key
from .inspect.errors import InspectError
from .inspect.home import HomeError, HomeStore
from .inspect.inputs import ENCODINGS, InputError, read_input
from .inspect.kinds import KINDS, Decoded, NoMatch, decode_as, guess
from .inspect.read import PointeeFetcher, read_with_home
from .inspect.tree import Struct, TextOptions, render_json, render_text, to_json
from .terminal import safe_text

_PROG = "pyxmtp inspect"


def _kinds_help() -> str:
    width = max(len(k.name) for k in KINDS)
    lines = [f"  {k.name:<{width}}  {k.summary}{'' if k.guessable else ' (only with --type)'}" for k in KINDS]
    return "payload kinds (--type), in the order they are guessed:\n" + "\n".join(lines)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "inspect",
        help="decode an MLS or XMTP payload (hex, base64, a file or stdin)",
        description="Decode an MLS or XMTP payload and print it as a tree (or JSON). Without --type, the "
        "kind is guessed. With --home, also show what that pyxmtp client installation can decrypt in it, "
        "without changing anything in the home.",
        epilog=_kinds_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "input",
        nargs="?",
        metavar="INPUT",
        help="hex or base64 text, @FILE or a path (raw bytes, or hex/base64 text), or - for stdin (default)",
    )
    p.add_argument(
        "--type", choices=[k.name for k in KINDS], metavar="KIND", help="the payload kind (see below)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (bytes as hex)")
    p.add_argument(
        "--encoding", choices=ENCODINGS, default="auto", help="how INPUT is encoded (default: auto)"
    )
    p.add_argument("--full", action="store_true", help="print long byte strings in full")
    p.add_argument(
        "--show-secrets", action="store_true", help="print key material (joiner secrets, pointer keys)"
    )
    p.add_argument(
        "--home", metavar="DIR", help="a pyxmtp client home: decrypt what its installation can read"
    )
    p.add_argument("--node", metavar="HOST:PORT", help="with --home: fetch a welcome pointer's pointee here")
    p.add_argument("--tls", action="store_true", help="reach --node over TLS (system roots)")
    p.add_argument("--ca-file", metavar="PEM", help="reach --node over TLS, checked against this CA")
    p.set_defaults(func=run)


def _fail(message: str | list[str]) -> int:
    """Print the message (its first line after ``pyxmtp inspect:``), each line escaped; exit status 1."""
    lines = [message] if isinstance(message, str) else message
    print(f"{_PROG}: {safe_text(lines[0])}", file=sys.stderr)
    for line in lines[1:]:
        print(safe_text(line), file=sys.stderr)
    return 1


def _db_key() -> bytes | None:
    try:
        return env_database_key()
    except ValueError as exc:
        raise HomeError(str(exc)) from None


def _credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    if args.ca_file:
        try:
            pem = Path(args.ca_file).read_bytes()
        except OSError as exc:
            raise HomeError(f"cannot read the CA file {args.ca_file}: {exc.strerror}") from None
        return grpc.ssl_channel_credentials(root_certificates=pem)
    return grpc.ssl_channel_credentials() if args.tls else None


async def _fetch_pointee(
    address: str, credentials: grpc.ChannelCredentials | None, destination: bytes
) -> tuple[bytes, bytes] | None:
    async with NodeApi(address, credentials=credentials) as api:
        async for welcome in api.welcomes_after(destination, 0):
            if welcome.WhichOneof("version") == "v1":
                return welcome.v1.data, welcome.v1.welcome_metadata
    return None


def _fetcher(args: argparse.Namespace) -> PointeeFetcher | None:
    if not args.node:
        return None
    credentials = _credentials(args)

    def fetch(destination: bytes) -> tuple[bytes, bytes] | None:
        return asyncio.run(_fetch_pointee(args.node, credentials, destination))

    return fetch


def _decode(args: argparse.Namespace, data: bytes, where: str) -> tuple[Decoded, bool, tuple[str, ...]]:
    if args.type:
        return decode_as(args.type, data), False, ()
    found = guess(data)
    return found.decoded, True, found.also


def _no_match(where: str, data: bytes, exc: NoMatch) -> list[str]:
    lines = [f"cannot decode {where} ({len(data)} bytes) as any payload kind (--type names one):"]
    lines += [f"  {', '.join(kinds)}: {reason}" for kinds, reason in exc.grouped()]
    return lines


def run(args: argparse.Namespace) -> int:
    if (args.node or args.tls or args.ca_file) and not args.home:
        return _fail("--node, --tls and --ca-file go with --home")
    if args.input is None and sys.stdin.isatty():
        return _fail("no INPUT: give hex, base64, @FILE or a path, or pipe the payload to stdin")
    try:
        data, where = read_input(args.input, args.encoding, sys.stdin.buffer)
    except InputError as exc:
        return _fail(f"cannot read INPUT: {exc}")
    if not data:
        return _fail(f"cannot decode {where}: it is empty")
    try:
        decoded, guessed, also = _decode(args, data, where)
    except NoMatch as exc:
        return _fail(_no_match(where, data, exc))
    except InspectError as exc:
        return _fail(f"cannot decode {where} as {args.type}: {exc}")
    home: Struct | None = None
    if args.home:
        try:
            store = HomeStore(Path(args.home), _db_key())
        except HomeError as exc:
            return _fail(f"cannot open the home: {exc}")
        try:
            home = read_with_home(decoded.obj, data, store, _fetcher(args))
        except (HomeError, ApiCallError, MLSError) as exc:
            return _fail(f"cannot read {where} with the home: {exc}")
        finally:
            store.close()
        if home is None:
            home = Struct(f"a {decoded.kind} holds nothing to decrypt")
    try:
        _print(args, decoded, guessed, also, len(data), home)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 141
    return 0


def _header(decoded: Decoded, guessed: bool, also: tuple[str, ...], length: int) -> str:
    if not guessed:
        return f"# {decoded.kind} ({length} bytes)"
    more = f"; also decodes as: {', '.join(also)}" if also else ""
    return f"# {decoded.kind} ({length} bytes; guessed: the first kind that decodes them{more})"


def _print(
    args: argparse.Namespace,
    decoded: Decoded,
    guessed: bool,
    also: tuple[str, ...],
    length: int,
    home: Struct | None,
) -> None:
    if args.json:
        document: dict[str, Any] = {
            "type": decoded.kind,
            "guessed": guessed,
            "also_decodes_as": list(also),
            "length": length,
            "value": to_json(decoded.tree, show_secrets=args.show_secrets),
        }
        if home is not None:
            document["home"] = to_json(home, show_secrets=args.show_secrets)
        print(render_json(document))
        return
    options = TextOptions(full_bytes=args.full, show_secrets=args.show_secrets)
    print(_header(decoded, guessed, also, length))
    print(render_text(decoded.tree, options))
    if home is not None:
        print()
        print(render_text(home, options))
