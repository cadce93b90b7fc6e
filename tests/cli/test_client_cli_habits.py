"""``pyxmtp client`` meets a user's habits: options anywhere, a home that does not depend on the directory,
node addresses as URLs, ids in any case, text from stdin or files, ``| head``, imported wallet keys, help that
says the defaults, exit statuses, shell completion. Real processes against a real node."""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyxmtp.cli.main import main
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .clirun import BASE_ENV, run, users

pytestmark = pytest.mark.timeout(300)


def help_of(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    return out.getvalue()


def test_help_shows_the_defaults_the_environment_and_the_exit_statuses() -> None:
    for text in (help_of("client"), help_of("client", "send")):
        assert "$PYXMTP_HOME" in text and "PYXMTP_NODE" in text and "PYXMTP_DB_KEY" in text
        assert "127.0.0.1:5556" in text and "pyxmtp/client" in text  # the defaults
        assert "130  interrupted" in text and "2    usage error" in text and "141" in text
    assert "before or after the command" in help_of("client", "read")


async def test_usage_mistakes_exit_2_failures_exit_1(node: Node, tmp_path: Path) -> None:
    home = str(tmp_path / "nobody")
    for args in (["client", "frobnicate"], ["client", "--home", home, "read", "abcd", "--limit", "0"]):
        result = await run(*args, check=False)
        assert result.code == 2, args
    for node_address in ("example.org", "ftp://example.org:21", "http://host:5556/path", "host:99999"):
        result = await run("client", "whoami", "--node", node_address, "--home", home, check=False)
        assert result.code == 2 and "--node" in result.err, (node_address, result.err)
    result = await run("client", "whoami", "--home", home, check=False)
    assert result.code == 1 and "init" in result.err


async def test_options_anywhere_urls_and_ids_in_any_case(node: Node, tmp_path: Path) -> None:
    alice, bob = await users(node, tmp_path, "alice", "bob")
    host, port = node.address.rsplit(":", 1)
    for url in (f"http://{host}:{port}", f"HTTP://{host}:{port}/"):
        # the common options before the command, after it, or both (the later one wins)
        dm = (
            await run(
                "client",
                "--home",
                str(tmp_path / "elsewhere"),
                "--json",
                "dm",
                bob.inbox_id.upper(),
                "--home",
                str(alice.home),
                "--node",
                url,
            )
        ).json()
        assert dm["peer_inbox_id"] == bob.inbox_id
    assert not (tmp_path / "elsewhere").exists()
    # https:// is TLS: against this plaintext node that fails, and the error says what to check
    result = await alice("list", "--node", f"https://{host}:{port}", check=False)
    assert result.code == 1 and "UNAVAILABLE" in result.err and "serving TLS" in result.err
    conflict = await alice("list", "--node", f"http://{host}:{port}", "--tls", check=False)
    assert conflict.code == 2 and "plaintext" in conflict.err

    # a DM with yourself is refused, whichever way you are named
    for me in (alice.address, alice.inbox_id, alice.address.upper().replace("0X", "0x")):
        result = await alice("dm", me, check=False)
        assert result.code == 1 and "your own inbox" in result.err
    result = await alice("send", alice.inbox_id, "hi me", check=False)
    assert result.code == 1 and "your own inbox" in result.err


async def test_the_default_home_is_the_users_data_directory(node: Node, tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    env: dict[str, str | None] = {k: None for k in BASE_ENV if k.startswith("XDG_")}
    env["HOME"] = str(user_home)
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    made = (await run("client", "--node", node.address, "--json", "init", env=env, cwd=here)).json()
    again = (await run("client", "--json", "whoami", "--node", node.address, env=env, cwd=there)).json()
    assert made["home"] == str(user_home / ".local" / "share" / "pyxmtp" / "client")
    assert again == made and (user_home / ".local/share/pyxmtp/client/wallet.key").is_file()
    assert not list(here.iterdir()) and not list(there.iterdir())  # nothing in the working directory


async def test_text_from_stdin_or_a_file_and_a_closed_pipe(node: Node, tmp_path: Path) -> None:
    alice, bob = await users(node, tmp_path, "alice", "bob")
    dm = await alice.json("dm", bob.address)
    big = "".join(f"line {n}: {'x' * 60}\n" for n in range(2200))  # 128 KiB and more: beyond argv limits
    assert len(big) > 128 * 1024
    await alice("send", dm["short_id"], "-", stdin=big.encode())
    (tmp_path / "note.txt").write_text("from a file \u00e9\n")
    await alice("send", dm["short_id"], "--file", str(tmp_path / "note.txt"))
    await alice("send", dm["short_id"], stdin=b"piped, no dash\r\n")  # stdin is not a terminal
    texts = [m["content"] for m in await bob.lines("read", dm["short_id"])]
    assert texts == [big[:-1], "from a file \u00e9", "piped, no dash"]  # one trailing newline dropped

    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    result = await alice("send", dm["short_id"], "--file", str(tmp_path / "binary"), check=False)
    assert result.code == 1 and "not UTF-8" in result.err
    result = await alice("send", dm["short_id"], "text", "--file", str(tmp_path / "note.txt"), check=False)
    assert result.code == 2
    result = await alice("send", dm["short_id"], "-", stdin=b"\n", check=False)
    assert result.code == 1 and "empty" in result.err

    # --limit and --since
    [last] = await bob.lines("read", dm["short_id"], "--limit", "1")
    assert last["content"] == "piped, no dash"
    assert len(await bob.lines("read", dm["short_id"], "--since", "1h")) == 3
    assert await bob.lines("read", dm["short_id"], "--since", "2999-01-01") == []
    assert (await bob("read", dm["short_id"], "--since", "yesterday", check=False)).code == 2

    # `| head`: the reader goes away; the command stops quietly with 141, no traceback
    command = [sys.executable, "-m", "pyxmtp", "client", "--home", str(bob.home), "--node", node.address]
    script = (
        f"{' '.join(command)} read {dm['short_id']} | head -c 100 > /dev/null; echo $" + "{PIPESTATUS[0]}"
    )
    # (an asyncio subprocess: the node runs on this event loop)
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=BASE_ENV
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert out.decode().strip() == "141" and err == b"", err.decode()


async def test_importing_a_wallet_key(node: Node, tmp_path: Path) -> None:
    wallet = LocalWalletSigner.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text("0x" + wallet.private_key.hex().upper() + "\n")
    home = tmp_path / "imported"
    base = ("client", "--node", node.address, "--json", "--home")
    made = (await run(*base, str(home), "init", "--wallet-key-file", str(key_file))).json()
    assert made["address"] == wallet.address
    assert (home / "wallet.key").stat().st_mode & 0o777 == 0o600
    # the same key again is fine (init finishes a registration); another key is refused
    await run(*base, str(home), "init", "--wallet-key-file", str(key_file))
    other = LocalWalletSigner.generate()
    env = {"MY_KEY": other.private_key.hex()}
    refused = await run(*base, str(home), "init", "--wallet-key-env", "MY_KEY", env=env, check=False)
    assert refused.code == 1 and "already holds the wallet" in refused.err
    second = (
        await run(*base, str(tmp_path / "second"), "init", "--wallet-key-env", "MY_KEY", env=env)
    ).json()
    assert second["address"] == other.address
    key_file.write_text("not a key")
    bad = await run(*base, str(tmp_path / "bad"), "init", "--wallet-key-file", str(key_file), check=False)
    assert bad.code == 1 and "hex key" in bad.err and not (tmp_path / "bad").exists()


async def test_a_wrong_database_key_is_one_clear_line(node: Node, tmp_path: Path) -> None:
    pytest.importorskip("sqlcipher3")
    home = str(tmp_path / "secret")
    await run("client", "--home", home, "--node", node.address, "init", env={"PYXMTP_DB_KEY": "42" * 32})
    result = await run("client", "--home", home, "whoami", env={"PYXMTP_DB_KEY": "43" * 32}, check=False)
    assert result.code == 1 and "encrypted with another key" in result.err
    assert len(result.err.strip().splitlines()) == 1 and "ERROR CORE" not in result.err


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["completion", "bash"]) == 0
    (tmp_path / "pyxmtp.bash").write_text(out.getvalue())

    def complete(line: str) -> list[str]:
        extra = 'COMP_WORDS+=("");' if line.endswith(" ") else ""
        script = (
            f"source {tmp_path / 'pyxmtp.bash'}; COMP_WORDS=({line}); {extra} "
            'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _pyxmtp; echo "${COMPREPLY[*]}"'
        )
        done = subprocess.run([bash, "-c", script], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("pyxmtp cl") == ["client"]
    assert complete("pyxmtp client re") == ["read", "react", "reply", "remove", "rename", "restore"]
    assert complete("pyxmtp client --home x send --fi") == ["--file"]
    assert complete("pyxmtp client read --log-level ") == ["debug", "info", "warning", "error"]
    assert "groups" in complete("pyxmtp client ")
