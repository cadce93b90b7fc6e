"""``pyxmtp inspect`` on what real libxmtp (xmtp-bindings 0.1.8 = libxmtp 1.10.0) produces, captured from a pyxmtp
node: its key package, its identity update, its welcomes (a V1 X-Wing-wrapped one and a welcome pointer), its
group messages (commits and application messages) and the content it sends, decrypted with pyxmtp members'
homes; and on the same payloads damaged.

One scenario, run once for the module (a node in a thread of its own, so that the tests can run the CLI
in-process and a pointer's pointee can be fetched from the node): alice (libxmtp) opens a DM with bob (pyxmtp)
and says hello, then makes a group with carol (libxmtp), bob and erin (pyxmtp): three new installations, so
libxmtp sends welcome pointers. Bob and erin join; alice writes in the group, reacts, and renames it; erin reads
everything, bob nothing (so bob's home can still decrypt, and erin's shows what it stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pyxmtp.cli.inspect.home import HomeStore
from pyxmtp.cli.main import main
from pyxmtp.client import Client
from pyxmtp.client.api import NodeApi
from pyxmtp.conversations.welcome_wrap import unwrap_welcome_pointer
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.mls.api.v1 import mls_pb2
from tests.interop.libxmtp import User, group_options, v

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

T = TypeVar("T")

DM_TEXT = "hello bob, from libxmtp"
GROUP_TEXT = "hello group, from libxmtp"
GROUP_NAME = "inspected"
NEW_NAME = "renamed by alice"
REACTION = "\N{THUMBS UP SIGN}"


class LoopThread:
    """An event loop in a thread of its own: the node and the clients live there, the tests run the CLI here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="node-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@dataclass
class Scenario:
    node: str
    alice_inbox: str
    alice_address: str
    alice_installation: bytes
    carol_inbox: str
    bob_home: Path
    bob_inbox: str
    erin_home: Path
    erin_inbox: str
    dm_id: bytes
    group_id: bytes
    key_package: bytes  # FetchKeyPackages: a bare TLS KeyPackage
    identity_update: bytes  # IdentityUpdate protobuf
    identity_update_log: bytes  # GetIdentityUpdates' IdentityUpdateLog
    dm_welcome: bytes  # WelcomeMessage V1 (X-Wing)
    group_welcome: bytes  # WelcomeMessage pointer
    dm_messages: list[bytes]  # GroupMessage protobufs, in order
    group_messages: list[bytes]
    encoded_text: bytes  # libxmtp's encode_text


async def _home(node: Node, home: Path) -> Client:
    """A pyxmtp client home as ``pyxmtp client init`` makes it: wallet.key and client.db."""
    home.mkdir(mode=0o700)
    wallet = LocalWalletSigner.generate()
    (home / "wallet.key").write_text(wallet.private_key.hex() + "\n")
    client = await Client.create(node.address, wallet, db_path=home / "client.db")
    await client.register(wallet)
    return client


async def _all(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


async def _scenario(root: Path, node: Node) -> Scenario:
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    api = await v.connect_to_backend(
        f"http://{node.address}", None, False, None, "pyxmtp-inspect", None, None
    )
    alice = await User.register(api)
    carol = await User.register(api)
    bob = await _home(node, root / "bob")
    erin = await _home(node, root / "erin")
    async with NodeApi(node.address) as napi:
        [key_package] = await napi.fetch_key_packages([bytes(alice.client.installation_id())])
        [log] = (await napi.get_identity_updates([(alice.inbox_id, 0)]))[alice.inbox_id]

        dm = await alice.client.conversations().find_or_create_dm(
            bob.inbox_id, v.FfiCreateDmOptions(message_disappearing_settings=None)
        )
        await dm.send_text(DM_TEXT)
        options = group_options(GROUP_NAME)
        group = await alice.client.conversations().create_group(
            [carol.inbox_id, bob.inbox_id, erin.inbox_id], options
        )
        dm_welcome, group_welcome = await _all(napi.welcomes_after(bob.installation_id, 0))
        assert {len(await bob.conversations.sync()), len(await erin.conversations.sync())} == {2, 1}

        message_id = await group.send_text(GROUP_TEXT)
        reaction = v.FfiReactionPayload(
            reference=bytes(message_id).hex(),
            reference_inbox_id=alice.inbox_id,
            action=v.FfiReactionAction.ADDED,
            content=REACTION,
            schema=v.FfiReactionSchema.UNICODE,
        )
        await group.send(v.encode_reaction(reaction), v.FfiSendMessageOpts(should_push=False))
        await group.update_group_name(NEW_NAME)
        erin_group = erin.conversations.get_conversation_by_id(bytes(group.id()))
        assert erin_group is not None
        await erin_group.sync()
        assert GROUP_TEXT in erin_group.texts()

        dm_messages = await _all(napi.group_messages_after(bytes(dm.id()), 0))
        group_messages = await _all(napi.group_messages_after(bytes(group.id()), 0))
    await bob.close()
    await erin.close()
    return Scenario(
        node=node.address,
        alice_inbox=alice.inbox_id,
        alice_address=alice.address,
        alice_installation=bytes(alice.client.installation_id()),
        carol_inbox=carol.inbox_id,
        bob_home=root / "bob",
        bob_inbox=bob.inbox_id,
        erin_home=root / "erin",
        erin_inbox=erin.inbox_id,
        dm_id=bytes(dm.id()),
        group_id=bytes(group.id()),
        key_package=key_package,
        identity_update=log.update.SerializeToString(),
        identity_update_log=log.SerializeToString(),
        dm_welcome=dm_welcome.SerializeToString(),
        group_welcome=group_welcome.SerializeToString(),
        dm_messages=[m.SerializeToString() for m in dm_messages],
        group_messages=[m.SerializeToString() for m in group_messages],
        encoded_text=bytes(v.encode_text("encoded by libxmtp")),
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("inspect")
    loop = LoopThread()
    node = loop.run(
        Node.start(NodeConfig(host="127.0.0.1", port=0, data_dir=root / "node", rate_limits=None))
    )
    try:
        yield loop.run(_scenario(root, node))
    finally:
        loop.run(node.stop(grace=0))
        loop.close()


# --- running the command ------------------------------------------------------------------------------------------


def inspect(*args: str) -> tuple[int, str, str]:
    """``pyxmtp inspect ARGS`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inspect", *args])
    return code, out.getvalue(), err.getvalue()


def inspect_json(*args: str) -> dict[str, Any]:
    code, out, err = inspect("--json", *args)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def message(data: bytes) -> mls_pb2.GroupMessage:
    return mls_pb2.GroupMessage.FromString(data)


def application_messages(messages: list[bytes]) -> list[bytes]:
    return [m for m in messages if not message(m).v1.is_commit]


def commits(messages: list[bytes]) -> list[bytes]:
    return [m for m in messages if message(m).v1.is_commit]


def extension(extensions: list[dict[str, Any]], name: str) -> Any:
    [found] = [e for e in extensions if e["extension_type"] == name]
    return found["extension_data"]["decoded"]


def home_snapshot(home: Path) -> dict[str, str]:
    """Every file in the home and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(home.iterdir())}


# --- key package and identity -------------------------------------------------------------------------------------


def test_libxmtps_key_package_is_guessed_and_decoded_with_its_xmtp_extensions(scenario: Scenario) -> None:
    doc = inspect_json(scenario.key_package.hex())
    assert doc["type"] == "key-package" and doc["guessed"]
    kp = doc["value"]
    assert kp["inbox_id"] == scenario.alice_inbox
    assert kp["installation_id"] == scenario.alice_installation.hex()
    assert kp["cipher_suite"] == "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"
    assert kp["validation"].startswith("valid")
    leaf = kp["leaf_node"]
    assert leaf["credential"]["credential_type"] == "basic"
    assert leaf["credential"]["identity"]["decoded"] == {"inbox_id": scenario.alice_inbox}
    assert extension(leaf["extensions"], "application_id") == {"application_id": scenario.alice_inbox}
    assert "welcome_wrapper_encryption" in leaf["capabilities"]["extensions"]
    wrapper = extension(kp["extensions"], "welcome_wrapper_encryption")
    assert wrapper["algorithm"] == "XWING_MLKEM_768_DRAFT_6"
    assert len(bytes.fromhex(wrapper["pub_key"])) == 1216  # an X-Wing public key
    aeads = extension(kp["extensions"], "welcome_pointee_encryption_aead_types")
    assert aeads["supported_aead_types"] == ["WELCOME_POINTEE_ENCRYPTION_AEAD_TYPE_CHACHA20_POLY1305"]
    assert kp["extensions"][0]["extension_type"] == "last_resort"

    code, text, _ = inspect(scenario.key_package.hex())
    assert code == 0
    assert text.startswith("# key-package (") and "guessed" in text
    assert "0xff03 (welcome_wrapper_encryption)" in text and "2 (XWING_MLKEM_768_DRAFT_6)" in text


def test_libxmtps_identity_update_shows_its_actions_and_verified_signatures(scenario: Scenario) -> None:
    doc = inspect_json(scenario.identity_update.hex())
    assert doc["type"] == "identity-update"
    update = doc["value"]
    assert update["inbox_id"] == scenario.alice_inbox
    create, add = update["actions"]
    assert create["initial_identifier"] == scenario.alice_address
    assert create["initial_identifier_kind"] == "IDENTIFIER_KIND_ETHEREUM"
    signature = create["initial_identifier_signature"]
    assert signature["kind"] == "erc_191"
    assert signature["verified"] == {"signer": scenario.alice_address, "signer_kind": "ethereum"}
    assert add["new_member_identifier"] == {"installation_public_key": scenario.alice_installation.hex()}
    assert add["existing_member_signature"]["kind"] == "erc_191"
    assert add["existing_member_signature"]["verified"]["signer"] == scenario.alice_address
    assert add["new_member_signature"]["kind"] == "installation_key"
    assert add["new_member_signature"]["verified"] == {
        "signer": scenario.alice_installation.hex(),
        "signer_kind": "installation",
    }
    assert update["signature_text"][0] == "XMTP : Authenticate to inbox"
    assert f"Inbox ID: {scenario.alice_inbox}" in update["signature_text"]

    log = inspect_json(scenario.identity_update_log.hex())
    assert log["type"] == "identity-update-log"
    assert log["value"]["sequence_id"] == 1
    assert log["value"]["update"] == update


# --- welcomes -----------------------------------------------------------------------------------------------------


def test_libxmtps_x_wing_welcome_is_decoded_and_opened_with_the_home_without_joining(
    scenario: Scenario,
) -> None:
    doc = inspect_json(scenario.dm_welcome.hex())
    assert doc["type"] == "welcome-message"
    v1 = doc["value"]["v1"]
    assert v1["wrapper_algorithm"] == "XWING_MLKEM_768_DRAFT_6"
    assert len(bytes.fromhex(v1["data"]["decoded"]["kem_output"])) == 1120  # an X-Wing encapsulation

    before = home_snapshot(scenario.bob_home)
    doc = inspect_json("--home", str(scenario.bob_home), scenario.dm_welcome.hex())
    home = doc["home"]
    assert home["readable"] is True
    assert home["welcome_metadata"]["decoded"]["message_cursor"] >= 1
    info = home["group_info"]
    context = info["group_context"]
    assert context["group_id"] == scenario.dm_id.hex()
    metadata = extension(context["extensions"], "immutable_metadata")
    assert metadata["conversation_type"] == "CONVERSATION_TYPE_DM"
    assert metadata["creator_inbox_id"] == scenario.alice_inbox
    members = {
        metadata["dm_members"]["dm_member_one"]["inbox_id"],
        metadata["dm_members"]["dm_member_two"]["inbox_id"],
    }
    assert members == {scenario.alice_inbox, scenario.bob_inbox}
    membership = extension(context["extensions"], "group_membership")
    assert set(membership["members"]) == {scenario.alice_inbox, scenario.bob_inbox}
    assert home["group_info_signature"].startswith("verifies")
    assert home["group_secrets"]["joiner_secret"] == {"secret": True, "length": 32}
    tree = extension(info["extensions"], "ratchet_tree")
    leaves = [node for name, node in tree.items() if isinstance(node, dict) and "inbox_id" in node]
    assert {leaf["inbox_id"] for leaf in leaves} == {scenario.alice_inbox, scenario.bob_inbox}
    assert home_snapshot(scenario.bob_home) == before  # nothing written, no side file made

    # the Welcome the wrapper held is itself an MLSMessage the command reads
    inner = inspect_json(home["welcome"]["hex"])
    assert inner["type"] == "mls-message" and inner["value"]["wire_format"] == "welcome"

    # secrets only when asked for
    shown = inspect_json("--show-secrets", "--home", str(scenario.bob_home), scenario.dm_welcome.hex())
    assert len(bytes.fromhex(shown["home"]["group_secrets"]["joiner_secret"])) == 32


def test_libxmtps_welcome_pointer_is_unwrapped_and_its_pointee_fetched_from_the_node(
    scenario: Scenario,
) -> None:
    doc = inspect_json(scenario.group_welcome.hex())
    assert doc["type"] == "welcome-message"
    pointer = doc["value"]["welcome_pointer"]
    assert pointer["wrapper_algorithm"] == "XWING_MLKEM_768_DRAFT_6"

    offline = inspect_json("--home", str(scenario.bob_home), scenario.group_welcome.hex())["home"]
    assert offline["readable"] is False and "give --node" in offline["reason"]
    destination = offline["pointer"]["destination"]
    assert offline["pointer"]["encryption_key"] == {"secret": True, "length": 32}

    online = inspect_json(
        "--home", str(scenario.bob_home), "--node", scenario.node, scenario.group_welcome.hex()
    )
    home = online["home"]
    assert home["readable"] is True and home["pointer"]["destination"] == destination
    context = home["group_info"]["group_context"]
    assert context["group_id"] == scenario.group_id.hex()
    assert (
        extension(context["extensions"], "group_mutable_metadata")["attributes"]["group_name"] == GROUP_NAME
    )
    members = set(extension(context["extensions"], "group_membership")["members"])
    assert members == {scenario.alice_inbox, scenario.carol_inbox, scenario.bob_inbox, scenario.erin_inbox}

    # the decrypted pointer (what libxmtp HPKE-wrapped), unwrapped here with bob's stored key
    welcome = mls_pb2.WelcomeMessage.FromString(scenario.group_welcome)
    store = HomeStore(scenario.bob_home)
    record = store.key_package(welcome.welcome_pointer.hpke_public_key)
    store.close()
    assert record is not None and record.wrapper_private_key is not None
    plaintext = unwrap_welcome_pointer(
        welcome.welcome_pointer.welcome_pointer,
        record.wrapper_private_key,
        welcome.welcome_pointer.wrapper_algorithm,
    ).to_bytes()
    found = inspect_json(plaintext.hex())
    assert found["type"] == "welcome-pointer"
    assert found["value"]["destination"] == destination
    assert found["value"]["aead_type"] == "CHACHA20_POLY1305"
    # the pointer alone leads to the welcome too, which the home then opens
    followed = inspect_json("--home", str(scenario.bob_home), "--node", scenario.node, plaintext.hex())[
        "home"
    ]
    assert followed["readable"] is True
    assert followed["group_info"]["group_context"]["group_id"] == scenario.group_id.hex()


# --- group messages and content -----------------------------------------------------------------------------------


def test_libxmtps_group_messages_are_decoded(scenario: Scenario) -> None:
    assert len(commits(scenario.dm_messages)) == 1 and len(application_messages(scenario.dm_messages)) == 1
    for data in scenario.dm_messages + scenario.group_messages:
        doc = inspect_json(data.hex())
        assert doc["type"] == "group-message"
        v1 = doc["value"]["v1"]
        mls = v1["data"]["decoded"]
        assert mls["wire_format"] == "private_message"
        header = mls["private_message"]
        assert header["group_id"] == v1["group_id"]
        assert header["content_type"] == ("commit" if v1.get("is_commit") else "application")
        # the MLSMessage alone decodes too
        inner = inspect_json(v1["data"]["hex"])
        assert inner["type"] == "mls-message" and inner["value"]["private_message"] == header
        assert (
            inspect_json("--type", "private-message", v1["data"]["hex"])["value"]["private_message"] == header
        )


def test_libxmtps_messages_decrypt_with_a_members_home_and_the_home_is_unchanged(scenario: Scenario) -> None:
    before = home_snapshot(scenario.bob_home)
    [dm_text] = application_messages(scenario.dm_messages)
    home = inspect_json("--home", str(scenario.bob_home), dm_text.hex())["home"]
    assert home["readable"] is True
    assert home["sender"]["inbox_id"] == scenario.alice_inbox
    assert home["sender"]["installation_id"] == scenario.alice_installation.hex()
    envelope = home["plaintext"]["decoded"]
    content = envelope["v1"]["content"]["decoded"]
    assert content["type"]["type_id"] == "text" and content["decoded"] == {"text": DM_TEXT}
    assert len(bytes.fromhex(envelope["message_id"])) == 32

    # the plaintext envelope and its EncodedContent, as libxmtp wrote them, are payloads of their own
    assert inspect_json(home["plaintext"]["hex"])["type"] == "plaintext-envelope"
    encoded = inspect_json(envelope["v1"]["content"]["hex"])
    assert encoded["type"] == "encoded-content" and encoded["value"]["decoded"] == {"text": DM_TEXT}

    text, reaction = application_messages(scenario.group_messages)
    home = inspect_json("--home", str(scenario.bob_home), text.hex())["home"]
    assert home["plaintext"]["decoded"]["v1"]["content"]["decoded"]["decoded"] == {"text": GROUP_TEXT}
    home = inspect_json("--home", str(scenario.bob_home), reaction.hex())["home"]
    value = home["plaintext"]["decoded"]["v1"]["content"]["decoded"]
    assert value["type"]["type_id"] == "reaction"
    assert value["decoded"]["content"] == REACTION and value["decoded"]["action"] == "added"

    # the rename: a commit at bob's epoch, decrypted and shown as what it would change
    rename = commits(scenario.group_messages)[-1]
    home = inspect_json("--home", str(scenario.bob_home), rename.hex())["home"]
    assert home["readable"] is True
    commit = home["commit"]
    assert commit["committer"]["inbox_id"] == scenario.alice_inbox
    assert [p["proposal_type"] for p in commit["proposals"]] == ["group_context_extensions"]
    assert (
        extension(commit["new_group_context_extensions"], "group_mutable_metadata")["attributes"][
            "group_name"
        ]
        == NEW_NAME
    )
    assert commit["removes_this_installation"] is False

    # the same rename as text, as a user reads it
    code, out, _ = inspect("--home", str(scenario.bob_home), rename.hex())
    assert code == 0 and "readable: true" in out and f"group_name: {NEW_NAME}" in out

    assert home_snapshot(scenario.bob_home) == before  # nothing written, no side file made


def test_what_a_home_cannot_read_is_said_plainly(scenario: Scenario) -> None:
    # the commit that made the DM: bob joined after it
    [creation] = commits(scenario.dm_messages)
    home = inspect_json("--home", str(scenario.bob_home), creation.hex())["home"]
    assert home["readable"] is False and home["reason"].startswith("wrong epoch")
    # erin is not in the DM
    [dm_text] = application_messages(scenario.dm_messages)
    home = inspect_json("--home", str(scenario.erin_home), dm_text.hex())["home"]
    assert home["readable"] is False and home["reason"].startswith("not a member")
    # a welcome for bob is not for erin
    home = inspect_json("--home", str(scenario.erin_home), scenario.dm_welcome.hex())["home"]
    assert home["readable"] is False and home["reason"].startswith("not for this installation")
    # erin has read the group's text already: its key is used up, and her database has the message
    text, _ = application_messages(scenario.group_messages)
    home = inspect_json("--home", str(scenario.erin_home), text.hex())["home"]
    assert home["readable"] is False and home["reason"].startswith("key already used")
    stored = home["stored"]
    assert stored["sender_inbox_id"] == scenario.alice_inbox
    assert stored["content"]["decoded"] == {"text": GROUP_TEXT}
    # a key package holds nothing to decrypt
    assert "nothing to decrypt" in inspect("--home", str(scenario.bob_home), scenario.key_package.hex())[1]


def test_libxmtps_encoded_content_is_guessed(scenario: Scenario) -> None:
    doc = inspect_json(scenario.encoded_text.hex())
    assert doc["type"] == "encoded-content"
    assert doc["value"]["type"]["authority_id"] == "xmtp.org"
    assert doc["value"]["parameters"] == {"encoding": "UTF-8"}
    assert doc["value"]["decoded"] == {"text": "encoded by libxmtp"}


def test_the_command_in_a_real_process(scenario: Scenario, tmp_path: Path) -> None:
    [dm_text] = application_messages(scenario.dm_messages)
    payload = tmp_path / "message.bin"
    payload.write_bytes(dm_text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyxmtp",
            "inspect",
            "--json",
            "--home",
            str(scenario.bob_home),
            f"@{payload}",
        ],
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    doc = json.loads(done.stdout)
    assert doc["home"]["plaintext"]["decoded"]["v1"]["content"]["decoded"]["decoded"] == {"text": DM_TEXT}

    damaged = subprocess.run(
        [sys.executable, "-m", "pyxmtp", "inspect", "--type", "group-message", dm_text[:-3].hex()],
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert damaged.returncode == 1
    assert damaged.stderr.decode().startswith("pyxmtp inspect: cannot decode the argument as group-message: ")
    assert b"Traceback" not in damaged.stderr and not damaged.stdout


# --- damaged ------------------------------------------------------------------------------------------------------


def captured(scenario: Scenario) -> list[tuple[str, bytes]]:
    return [
        ("key-package", scenario.key_package),
        ("identity-update", scenario.identity_update),
        ("identity-update-log", scenario.identity_update_log),
        ("welcome-message", scenario.dm_welcome),
        ("welcome-message", scenario.group_welcome),
        ("encoded-content", scenario.encoded_text),
        *(("group-message", m) for m in scenario.dm_messages + scenario.group_messages),
    ]


def assert_refused(args: list[str], kind: str) -> None:
    code, out, err = inspect(*args)
    assert code == 1, (kind, out[:300])
    assert err.startswith("pyxmtp inspect: cannot decode"), err
    assert "Traceback" not in err and not out


def test_truncated_and_bit_flipped_captures_are_refused_with_a_clear_error(scenario: Scenario) -> None:
    for kind, data in captured(scenario):
        for cut in (1, 2, len(data) // 2, len(data) - 1):
            assert_refused(["--type", kind, data[:-cut].hex()], kind)
        # guessing: truncated, or its first byte (a TLS version, a protobuf tag) flipped, it is no payload at all
        assert_refused([data[:-1].hex()], kind)
        assert_refused([bytes([data[0] ^ 0x40]).hex() + data[1:].hex()], kind)
    # bit flips anywhere: the command decodes or refuses, never fails otherwise
    for kind, data in captured(scenario):
        for position in range(0, len(data), max(1, len(data) // 16)):
            flipped = bytearray(data)
            flipped[position] ^= 0x01
            for args in (["--type", kind], [], ["--home", str(scenario.bob_home)]):
                code, _, err = inspect(*args, bytes(flipped).hex())
                assert code in (0, 1) and "Traceback" not in err
                assert code == 0 or err.startswith("pyxmtp inspect: cannot decode"), err
