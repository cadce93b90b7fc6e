"""The home directory of ``pyxmtp client``: one installation, its wallet key, its database, its lock.

The home (made 0700) holds ``wallet.key`` (the Ethereum private key, hex, mode 0600: whoever has it owns the
inbox), ``client.db`` (the installation and its conversations, 0600; encrypted with SQLCipher when
``$PYXMTP_DB_KEY`` holds a 32-byte key in hex) and ``lock``.

One process at a time uses a home: the SDK keeps each group's state in memory, so two processes writing one
database would each carry on from a state the other has moved past (and reuse message keys). Every command but
``whoami`` takes an exclusive ``flock`` on ``lock`` (released by the kernel when the process ends, however it
ends) and writes its PID and command there; a second one is told which process holds the home.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from pyxmtp.identity.eth import LocalWalletSigner

from ..hexkey import env_database_key, hex_bytes
from ..terminal import safe_text
from .errors import CliError

WALLET_FILE = "wallet.key"
DATABASE_FILE = "client.db"
LOCK_FILE = "lock"
_KEY_HINT = "a wallet key is 32 bytes: 64 hex characters, 0x optional"


def make_home(home: Path) -> None:
    """The home directory, made 0700 whatever the umask; an existing one that others can enter is left as it
    is, with a warning (it may be a directory the user shares on purpose)."""
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        home.chmod(0o700)  # mkdir's mode goes through the umask
    elif not home.is_dir():
        raise CliError(f"{home} is not a directory")
    elif stat.S_IMODE(home.stat().st_mode) & 0o077:
        print(
            f"pyxmtp client: warning: others can read {safe_text(str(home))}: chmod 700 it", file=sys.stderr
        )


def load_wallet(home: Path) -> LocalWalletSigner:
    path = home / WALLET_FILE
    if not path.is_file():
        old = Path("pyxmtp-client")  # the default home of earlier versions, in the working directory
        hint = (
            f"(earlier versions kept the home in ./{old}: give --home {old})"
            if (old / WALLET_FILE).is_file() and old.absolute() != home
            else None
        )
        raise CliError(
            f"no wallet in {home}: run `pyxmtp client --home {home} init` first "
            "(--wallet-key-file or --wallet-key-env to import a key)",
            hint,
        )
    try:
        return wallet_from_text(path.read_text(), str(path))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def wallet_from_text(text: str, where: str) -> LocalWalletSigner:
    """A wallet from a hex private key (``0x`` optional, surrounding white space ignored)."""
    key = hex_bytes(text)
    if key is None:
        raise CliError(f"{where} does not hold a hex key ({_KEY_HINT})")
    if len(key) != 32:
        raise CliError(f"{where} holds {len(key)} bytes ({_KEY_HINT})")
    try:
        return LocalWalletSigner(key)
    except ValueError as exc:
        raise CliError(f"{where} is not a valid secp256k1 private key: {exc}") from None


def imported_wallet(key_file: str | None, key_env: str | None) -> LocalWalletSigner | None:
    """The wallet given to ``init`` by ``--wallet-key-file`` or ``--wallet-key-env``, if any."""
    if key_file is not None:
        if key_file == "-":
            return wallet_from_text(sys.stdin.read(), "stdin")
        try:
            text = Path(key_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise CliError(f"cannot read the wallet key file {key_file}: {reason}") from None
        return wallet_from_text(text, key_file)
    if key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise CliError(f"${key_env} is not set")
        return wallet_from_text(value, f"${key_env}")
    return None


def init_wallet(home: Path, imported: LocalWalletSigner | None) -> LocalWalletSigner:
    """The home's wallet: the one it holds (``init`` can be run again to finish registering), else the
    imported one, else a new one. Importing into a home that holds another key is an error."""
    make_home(home)
    path = home / WALLET_FILE
    if path.exists():
        wallet = load_wallet(home)
        if imported is not None and imported.address != wallet.address:
            raise CliError(
                f"{home} already holds the wallet {wallet.address}: import {imported.address} into another "
                "--home"
            )
        return wallet
    wallet = imported if imported is not None else LocalWalletSigner.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as f:
        f.write(wallet.private_key.hex() + "\n")
    return wallet


@contextlib.contextmanager
def locked(home: Path, command: str) -> Iterator[None]:
    """Hold the home's lock for the block (see the module docstring); :class:`CliError` naming the process
    that holds it if another one does."""
    path = home / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CliError(f"cannot open {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("ascii", "replace").strip() or "another process"
            pid, _, what = holder.partition(" ")
            who = f"PID {pid} (pyxmtp client {what})" if pid.isdigit() else "another process"
            raise CliError(
                f"this home is in use by {who}: {home}",
                "(one process at a time per home: stop it, or use another --home)",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def database_key() -> bytes | None:
    """The database key from ``$PYXMTP_DB_KEY`` (None: not encrypted). SQLCipher's own log lines (a wrong key
    makes it print its decryption errors on stderr) are switched off: the error we raise says it plainly."""
    try:
        key = env_database_key()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if key is None:
        return None
    _quiet_sqlcipher()
    return key


def _quiet_sqlcipher() -> None:
    try:
        import sqlcipher3
    except ImportError:  # the SDK says what to install
        return
    db = sqlcipher3.connect(":memory:")
    try:
        db.execute("PRAGMA cipher_log_level = NONE")  # process-wide
    finally:
        db.close()
