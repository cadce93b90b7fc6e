"""``backup FILE`` and ``restore FILE``: the home's history as an encrypted archive in libxmtp's format (a file
libxmtp's ``importArchive`` reads, and ``restore`` reads libxmtp's ``createArchive`` files).

The archive key (32 random bytes, as hex) never goes on the command line (where ``ps`` and shell histories show
it) and is never printed: ``--key-file FILE`` names a file holding it (``-``: stdin), ``--key-env VAR`` an
environment variable. ``backup --key-file FILE`` with a FILE that does not exist yet makes a new key there
(owner-only, 0600) and says so: keep that file apart from the archive, whoever holds both reads the history.
The archive is written owner-only too. ``restore`` imports everything or nothing: a tampered or truncated
archive, or the wrong key, changes nothing. Conversations this installation is not in yet are restored
read-only: ``restore`` lists them; they become live conversations, with the restored history, once another
member's client adds this installation (a pyxmtp client does so before it next sends).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from . import sdk
from .errors import CliError, UsageError
from .options import Settings
from .output import Output, iso_time, plural, safe_text
from .session import open_session

KEY_BYTES = 32


def register(command: Any) -> None:
    backup = command(
        "backup",
        help="write this home's conversations, messages and consent to an encrypted archive file",
        description="Write this home's conversations, messages and consent to FILE, an encrypted archive in "
        "libxmtp's format (owner-only). The key comes from --key-file (made there if the file does not exist "
        "yet) or --key-env; it is never printed.",
    )
    backup.add_argument("file", metavar="FILE", help="the archive to write (replaced if it exists)")
    _key_options(backup)
    backup.add_argument(
        "--since", metavar="WHEN", help="only messages sent since WHEN (15m, 2h, 3d, 2026-01-31T18:00)"
    )
    backup.add_argument(
        "--consent-only", action="store_true", help="only the consent records, no conversations or messages"
    )
    backup.set_defaults(handler=_backup)
    restore = command(
        "restore",
        help="import an encrypted archive file (from backup, or from a libxmtp app)",
        description="Import FILE, an archive made by backup or by a libxmtp app's createArchive, with its key "
        "(--key-file or --key-env). Everything or nothing is imported; conversations this installation is not "
        "in yet are restored read-only.",
    )
    restore.add_argument("file", metavar="FILE", help="the archive to import")
    _key_options(restore)
    restore.set_defaults(handler=_restore)


def _key_options(parser: argparse.ArgumentParser) -> None:
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-file", metavar="KEYFILE", help="the archive key, hex, in KEYFILE (- reads stdin)")
    key.add_argument("--key-env", metavar="VAR", help="the archive key, hex, in the environment variable VAR")


def _parse_key(text: str, where: str) -> bytes:
    text = text.strip()
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise CliError(f"{where} does not hold a hex archive key ({KEY_BYTES} bytes as hex)") from None
    if len(key) < KEY_BYTES:
        raise CliError(f"{where} holds {len(key)} bytes: an archive key is {KEY_BYTES} bytes as hex")
    return key


def _new_key_file(path: Path) -> bytes:
    """A new random key, written to ``path`` (which must not exist) owner-only."""
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise CliError(f"cannot create the key file {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def _archive_key(args: argparse.Namespace, *, create: bool) -> tuple[bytes, bool]:
    """The key from ``--key-file`` / ``--key-env``, and whether it was made now (``create``: a key file that does
    not exist yet is made)."""
    if args.key_env is not None:
        value = os.environ.get(args.key_env)
        if not value:
            raise CliError(f"${args.key_env} is not set")
        return _parse_key(value, f"${args.key_env}"), False
    if args.key_file == "-":
        return _parse_key(sys.stdin.read(), "stdin"), False
    path = Path(args.key_file)
    if not path.exists():
        if not create:
            raise CliError(f"the key file {path} does not exist")
        return _new_key_file(path), True
    try:
        return _parse_key(path.read_text(), str(path)), False
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise CliError(f"cannot read the key file {path}: {reason}") from None


async def _backup(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    from .chat_cmds import parse_since  # the same --since as read

    start_ns = None if args.since is None else parse_since(args.since, time.time_ns())
    target = Path(args.file)
    if target.is_dir():
        raise UsageError(f"{target} is a directory")
    async with open_session(settings, output, "backup") as session:
        key, made = _archive_key(args, create=True)
        try:
            metadata = await sdk.create_archive(session.client, target, key, start_ns, args.consent_only)
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror}") from None
        del key
    size = target.stat().st_size
    obj = {
        "file": str(target),
        "bytes": size,
        "elements": [kind.name.lower() for kind in metadata.elements],
        "exported_at": iso_time(metadata.exported_at_ns),
        "start_ns": metadata.start_ns,
        "key_file": args.key_file,
        "key_created": made,
    }
    text = f"wrote {safe_text(str(target))} ({plural(size, 'byte')}, {', '.join(obj['elements'])})"
    if made:
        text += f"\na new archive key is in {safe_text(args.key_file)}: keep it apart from the archive"
    output.record(obj, text)


async def _restore(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    source = Path(args.file)
    if not source.is_file():
        raise CliError(f"no archive file {source}")
    key, _ = _archive_key(args, create=False)
    async with open_session(settings, output, "restore") as session:
        try:
            summary = await sdk.import_archive(session.client, source, key)
        except OSError as exc:
            raise CliError(f"cannot read {source}: {exc.strerror}") from None
        del key
        restored = sdk.restored_conversations(session.client)
    obj = {
        "file": str(source),
        "exported_at": iso_time(summary.metadata.exported_at_ns),
        "conversations_restored": summary.conversations_restored,
        "conversations_held": summary.conversations_held,
        "messages_imported": summary.messages_imported,
        "messages_duplicate": summary.messages_duplicate,
        "messages_without_conversation": summary.messages_without_conversation,
        "consent_changed": summary.consent_changed,
        "skipped": summary.skipped,
        "read_only": [{"id": c.id, "name": c.name, "dm_peer": c.peer_inbox_id} for c in restored],
    }
    lines = [
        f"restored {plural(summary.conversations_restored, 'conversation')} "
        f"({summary.conversations_held} held already), {plural(summary.messages_imported, 'message')} "
        f"({summary.messages_duplicate} held already), "
        f"{plural(summary.consent_changed, 'consent record')} changed"
        + (f", {summary.skipped} skipped" if summary.skipped else "")
    ]
    if restored:
        lines.append(
            f"{plural(len(restored), 'conversation')} read-only until another member's client adds this "
            "installation:"
        )
        lines += [
            f"  {c.id[:8]}  {safe_text(c.name or (c.peer_inbox_id or '')[:16] or 'group')}" for c in restored
        ]
    output.record(obj, "\n".join(lines))
