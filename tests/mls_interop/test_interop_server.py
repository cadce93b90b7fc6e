"""``pyxmtp mls interop-server``: the IETF MLS interop harness's MLSClient service, driven over real gRPC on
loopback by our stand-in for the harness's test-runner (:mod:`.driver`).

Two pyxmtp servers play the actors of every welcome-join, application, commit and external-join scenario
(:mod:`.scenarios`), each actor on one server, in both assignments, in cipher suites 1 and 3, with handshakes
encrypted and not; the driver checks epoch-authenticator agreement and unprotected plaintexts. Each run's
transcript then becomes passive-client test vectors (as the harness's active_to_passive.js makes them) that
pyxmtp's vector runner passes. The calls of the scenarios this server leaves out answer UNIMPLEMENTED, and
errors come back as statuses that say what was wrong.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf.message_factory import GetMessageClass

from pyxmtp.mls.vectors import run_cases
from pyxmtp.mls_interop import NOT_SERVED, InteropClient, start_server
from pyxmtp.proto.mls_client import mls_client_pb2 as pb
from pyxmtp.proto.mls_client.mls_client_pb2_grpc import MLSClientStub

from .driver import Driver, ScenarioFailure, actors, passive_cases
from .scenarios import SCENARIOS, Script

CASES = [(group, name) for group, scripts in SCENARIOS.items() for name in scripts]


class Servers:
    def __init__(self) -> None:
        self.servers: list[grpc.aio.Server] = []
        self.channels: list[grpc.aio.Channel] = []
        self.clients: list[InteropClient] = []
        self.stubs: list[MLSClientStub] = []

    async def start(self, n: int) -> None:
        for _ in range(n):
            client = InteropClient()
            server, port = await start_server("127.0.0.1", 0, client)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            self.servers.append(server)
            self.channels.append(channel)
            self.clients.append(client)
            self.stubs.append(MLSClientStub(channel))

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        for server in self.servers:
            await server.stop(None)


@pytest.fixture
async def two() -> AsyncIterator[Servers]:
    servers = Servers()
    await servers.start(2)
    try:
        yield servers
    finally:
        await servers.close()


async def run(servers: Servers, script: Script, suite: int, encrypt: bool, shift: int) -> Driver:
    """Run ``script`` with actor i on server (i + shift) % 2; then its passive-client vectors must pass."""
    who = {a: servers.stubs[(i + shift) % len(servers.stubs)] for i, a in enumerate(actors(script))}
    driver = Driver(who, suite, encrypt)
    await driver.run(script)
    cases = passive_cases(driver.transcript, suite)
    result = run_cases("passive-client", cases)
    assert result.ok or not cases, [c.reason for c in result.failures()]
    return driver


@pytest.mark.parametrize(("group", "name"), CASES, ids=[f"{g}-{n}" for g, n in CASES])
async def test_scenario_between_two_servers(two: Servers, group: str, name: str) -> None:
    script = SCENARIOS[group][name]
    joins = 0
    for suite in (1, 3):
        for encrypt in (True, False):
            for shift in (0, 1):
                driver = await run(two, script, suite, encrypt, shift)
                joins += len(passive_cases(driver.transcript, suite))
    if any(step["action"] in ("createGroup", "fullCommit") for step in script) and group != "external_join":
        assert joins > 0  # the passive-client vectors were made and checked


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5, 6, 7])
async def test_every_suite_on_the_largest_scenario(suite: int) -> None:
    servers = Servers()
    await servers.start(2)
    try:
        await run(servers, SCENARIOS["commit"]["all_together_bob_proposes"], suite, suite % 2 == 1, suite % 2)
        await run(servers, SCENARIOS["external_join"]["with_more_members"], suite, True, 0)
    finally:
        await servers.close()


async def test_the_server_describes_itself_and_frees_states(two: Servers) -> None:
    stub = two.stubs[0]
    assert (await stub.Name(pb.NameRequest())).name == "pyxmtp"
    suites = (await stub.SupportedCiphersuites(pb.SupportedCiphersuitesRequest())).ciphersuites
    assert list(suites) == [1, 2, 3, 4, 5, 6, 7]
    await run(two, SCENARIOS["welcome_join"]["with_psk"], 3, True, 0)
    assert [c.held for c in two.clients] == [0, 0]  # every state freed, bob's transaction used by his join


async def _status(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    code: grpc.StatusCode = info.value.code()
    return code


async def test_calls_of_scenarios_left_out_are_unimplemented(two: Servers) -> None:
    stub = two.stubs[0]
    state = (
        await stub.CreateGroup(pb.CreateGroupRequest(group_id=b"g", cipher_suite=3, identity=b"a"))
    ).state_id
    service = pb.DESCRIPTOR.services_by_name["MLSClient"]
    for name in NOT_SERVED:
        request = GetMessageClass(service.methods_by_name[name].input_type)()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await getattr(stub, name)(request)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED, name
        assert info.value.details() == f"pyxmtp's interop server does not serve {name}"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        by_value = [pb.ProposalDescription(proposal_type=b"reinit", cipher_suite=3)]
        await stub.Commit(pb.CommitRequest(state_id=state, by_value=by_value))
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED and "ReInit" in (info.value.details() or "")


async def test_errors_name_what_was_wrong_and_change_nothing(two: Servers) -> None:
    stub = two.stubs[0]
    assert await _status(stub.StateAuth(pb.StateAuthRequest(state_id=999))) == grpc.StatusCode.NOT_FOUND
    bad_suite = pb.CreateGroupRequest(group_id=b"g", cipher_suite=0x1234, identity=b"a")
    assert await _status(stub.CreateGroup(bad_suite)) == grpc.StatusCode.INVALID_ARGUMENT
    made = await stub.CreateKeyPackage(pb.CreateKeyPackageRequest(cipher_suite=3, identity=b"bob"))
    garbage = pb.JoinGroupRequest(transaction_id=made.transaction_id, welcome=b"\x00\x01\x00\x03junk")
    assert await _status(stub.JoinGroup(garbage)) == grpc.StatusCode.INVALID_ARGUMENT
    alice = (
        await stub.CreateGroup(pb.CreateGroupRequest(group_id=b"g", cipher_suite=3, identity=b"alice"))
    ).state_id
    before = (await stub.StateAuth(pb.StateAuthRequest(state_id=alice))).state_auth_secret
    nobody = pb.RemoveProposalRequest(state_id=alice, removed_id=b"nobody")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RemoveProposal(nobody)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "nobody" in (info.value.details() or "")
    commit = await stub.Commit(
        pb.CommitRequest(
            state_id=alice,
            by_value=[pb.ProposalDescription(proposal_type=b"add", key_package=made.key_package)],
        )
    )
    auth = (await stub.HandlePendingCommit(pb.HandlePendingCommitRequest(state_id=alice))).epoch_authenticator
    assert auth != before
    joined = await stub.JoinGroup(
        pb.JoinGroupRequest(transaction_id=made.transaction_id, welcome=commit.welcome)
    )
    assert joined.epoch_authenticator == auth  # the refused join left the transaction usable
    assert await _status(stub.JoinGroup(pb.JoinGroupRequest(transaction_id=made.transaction_id))) == (
        grpc.StatusCode.NOT_FOUND  # used up by the join: its private keys are gone
    )


async def test_a_failed_check_is_reported_with_its_step(two: Servers) -> None:
    """The driver itself: a wrong expectation fails with the step that broke."""
    script: Sequence[dict[str, object]] = [
        {"action": "createGroup", "actor": "alice", "members": ["bob"]},
        {"action": "unprotect", "actor": "bob", "ciphertext": 0},
    ]
    with pytest.raises(ScenarioFailure, match="step 1"):
        await run(two, list(script), 3, True, 0)  # type: ignore[arg-type]


def test_the_command_serves_until_sigterm() -> None:
    """``pyxmtp mls interop-server --port 0`` says where it listens, answers, and stops on SIGTERM."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "pyxmtp", "mls", "interop-server", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        with grpc.insecure_channel(line.removeprefix("listening on ")) as channel:
            name = MLSClientStub(channel).Name(pb.NameRequest(), timeout=30).name  # type: ignore[arg-type]
        assert name == "pyxmtp"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# Opt-in, not skipped: with $MLS_INTEROP_CONFIGS pointing at mlswg/mls-implementations' interop/configs, the
# harness's own scripts for these scenarios run through our driver too (they are not in this repository).
OFFICIAL_CONFIGS = os.environ.get("MLS_INTEROP_CONFIGS")

if OFFICIAL_CONFIGS:

    @pytest.mark.parametrize("name", list(SCENARIOS))
    async def test_the_harness_own_config_files(two: Servers, name: str) -> None:
        """With the harness's config files at hand, its own scripts pass too (suite 3, both framings)."""
        assert OFFICIAL_CONFIGS is not None
        path = Path(OFFICIAL_CONFIGS) / f"{name}.json"
        scripts: dict[str, Script] = json.loads(path.read_text())["scripts"]
        for script in scripts.values():
            for encrypt in (True, False):
                await run(two, script, 3, encrypt, 1)
