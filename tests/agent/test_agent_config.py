"""Agents made from the environment (agent-sdk's variable names) against a real node; the networks and node
URLs; ``.env`` files. The public XMTP networks are never contacted: only their targets are checked."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from pyxmtp.agent import (
    NETWORKS,
    Agent,
    AgentConfigError,
    NodeTarget,
    get_test_url,
    load_env_file,
    parse_node_url,
    read_settings,
    resolve_node,
)
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

pytestmark = pytest.mark.timeout(120)


def environment(node: Node, directory: Path, key: bytes, **extra: str) -> dict[str, str]:
    return {
        "XMTP_WALLET_KEY": "0x" + key.hex(),
        "XMTP_NODE_URL": f"http://{node.address}",
        "XMTP_DB_DIRECTORY": str(directory),
        **extra,
    }


async def test_from_env_makes_an_agent_and_reopens_it_as_the_same_installation(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = LocalWalletSigner.generate().private_key
    directory = tmp_path / "agent-home"
    environ = environment(node, directory, key, PATH="/bin")
    async with await Agent.from_env(environ) as agent:
        assert agent.address == LocalWalletSigner(key).address
        assert agent.env == "custom" and agent.test_url is None
        inbox, installation = agent.inbox_id, agent.client.installation_id
    assert environ == {
        "XMTP_NODE_URL": f"http://{node.address}",
        "XMTP_DB_DIRECTORY": str(directory),
        "PATH": "/bin",
    }
    database = directory / f"xmtp-custom-{inbox}.db3"
    assert database.is_file() and stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700

    with caplog.at_level(logging.WARNING, logger="pyxmtp.agent"):
        async with await Agent.from_env(environment(node, directory, key)) as again:
            assert (again.inbox_id, again.client.installation_id) == (inbox, installation)
            assert len((await again.client.inbox_state(refresh=True)).installations) == 1
    assert "installations" not in caplog.text

    # a database that was not kept: a second installation, and agent-sdk's warning about it
    with caplog.at_level(logging.WARNING, logger="pyxmtp.agent"):
        async with await Agent.from_env(environment(node, tmp_path / "elsewhere", key)) as fresh:
            assert fresh.inbox_id == inbox and fresh.client.installation_id != installation
    assert "has 2 installations and this one" in caplog.text


async def test_an_encrypted_database_from_the_environment(node: Node, tmp_path: Path) -> None:
    key, db_key = LocalWalletSigner.generate().private_key, os.urandom(32)
    environ = environment(node, tmp_path, key, XMTP_DB_ENCRYPTION_KEY=db_key.hex())  # 0x optional
    async with await Agent.from_env(environ) as agent:
        inbox = agent.inbox_id
    assert "XMTP_DB_ENCRYPTION_KEY" not in environ
    data = (tmp_path / f"xmtp-custom-{inbox}.db3").read_bytes()
    assert not data.startswith(b"SQLite format 3") and key not in data


async def test_from_env_reads_a_dotenv_file(node: Node, tmp_path: Path) -> None:
    key = LocalWalletSigner.generate().private_key
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"# the agent\nXMTP_WALLET_KEY='0x{key.hex()}'\nexport XMTP_ENV=local  # comment\n"
        f'XMTP_NODE_URL="{node.address}"\nXMTP_DB_DIRECTORY={tmp_path}\n'
    )
    environ: dict[str, str] = {"XMTP_ENV": "local"}
    async with await Agent.from_env(environ, env_file=env_file) as agent:
        assert agent.address == LocalWalletSigner(key).address
        assert agent.env == "local"  # named by XMTP_ENV, reached at XMTP_NODE_URL
    assert (tmp_path / f"xmtp-local-{agent.inbox_id}.db3").is_file()


SECRET = "ab" * 32


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, r"\$XMTP_WALLET_KEY is not set"),
        ({"XMTP_WALLET_KEY": "0x" + SECRET[:-2]}, r"\$XMTP_WALLET_KEY must be 64 hex digits"),
        ({"XMTP_WALLET_KEY": "zz" + SECRET[2:]}, r"\$XMTP_WALLET_KEY must be 64 hex digits"),
        (
            {"XMTP_WALLET_KEY": SECRET, "XMTP_DB_ENCRYPTION_KEY": SECRET + "00"},
            r"\$XMTP_DB_ENCRYPTION_KEY must",
        ),
        ({"XMTP_WALLET_KEY": SECRET, "XMTP_ENV": "mainnet"}, "the decentralized networks are not supported"),
        (
            {"XMTP_WALLET_KEY": SECRET, "XMTP_ENV": "staging"},
            "XMTP_ENV 'staging': one of local, dev, production",
        ),
        (
            {"XMTP_WALLET_KEY": SECRET, "XMTP_GATEWAY_HOST": "https://gw.example"},
            "gateways are not supported",
        ),
        ({"XMTP_WALLET_KEY": SECRET, "XMTP_NODE_URL": "ftp://127.0.0.1:5556"}, "the scheme must be http://"),
        ({"XMTP_WALLET_KEY": SECRET, "XMTP_NODE_URL": "127.0.0.1"}, "give HOST:PORT"),
        ({"XMTP_WALLET_KEY": SECRET, "XMTP_NODE_URL": "http://a:1,https://b:2"}, "mixes plaintext and TLS"),
        ({"XMTP_WALLET_KEY": SECRET, "XMTP_NODE_URL": "http://a:1/path"}, "only a scheme, a host and a port"),
    ],
)
def test_bad_settings_are_named_and_secrets_never_shown(environ: dict[str, str], message: str) -> None:
    with pytest.raises(AgentConfigError, match=message) as raised:
        read_settings(dict(environ))
    assert SECRET[2:-2] not in str(raised.value)


def test_the_networks_and_node_urls() -> None:
    assert resolve_node() == NodeTarget("127.0.0.1:5556", tls=False, env="local")
    assert resolve_node("dev") == NodeTarget("grpc.dev.xmtp.network:443", tls=True, env="dev")
    assert resolve_node("Production") == NodeTarget(
        "grpc.production.xmtp.network:443", tls=True, env="production"
    )
    assert set(NETWORKS) == {"local", "dev", "production"}
    assert resolve_node(None, "https://node.example") == NodeTarget(
        "node.example:443", tls=True, env="custom"
    )
    assert resolve_node("dev", "https://my.proxy:8443/") == NodeTarget("my.proxy:8443", tls=True, env="dev")
    assert parse_node_url("http://a, http://[::1]:5556,b:7") == NodeTarget(
        "a:80,[::1]:5556,b:7", False, "custom"
    )
    assert get_test_url("0xabc", "dev") == "http://xmtp.chat/dev/dm/0xabc"
    assert get_test_url("0xabc", "local") is None


def test_the_debug_level_and_dotenv_rules(tmp_path: Path) -> None:
    base = {"XMTP_WALLET_KEY": "11" * 32}
    assert read_settings({**base, "XMTP_FORCE_DEBUG_LEVEL": "Debug"}).log_level == logging.DEBUG
    assert read_settings({**base, "XMTP_FORCE_DEBUG_LEVEL": "loud"}).log_level == logging.WARNING
    assert read_settings(dict(base)).log_level is None
    assert read_settings(dict(base)).db_directory == Path.cwd()
    assert "11" * 32 not in repr(read_settings(dict(base)))

    env_file = tmp_path / ".env"
    env_file.write_text('A=1\nB="two words"\nC=kept\n\n# note\nD=x # trailing\n')
    environ = {"C": "mine"}
    assert load_env_file(env_file, environ) == ["A", "B", "D"]
    assert environ == {"A": "1", "B": "two words", "C": "mine", "D": "x"}
    assert load_env_file(tmp_path / "missing", environ) == []
    env_file.write_text("not a setting\n")
    with pytest.raises(AgentConfigError, match="line 1: not NAME=value"):
        load_env_file(env_file, {})
