"""Our own stand-in for the IETF MLS interop harness's test-runner (mlswg/mls-implementations
interop/test-runner, Go, which cannot be built here): it drives MLSClient gRPC servers through scripts in the
harness's config format and checks what the test-runner checks.

A script is a list of steps (``{"action": ..., "actor": ..., ...}``); steps refer to earlier steps by index
(``"keyPackage": 1``: the key package made at step 1). Each actor is assigned one server. The checks: every
member that handles a commit, and every joiner, reports the committer's epoch authenticator; ``unprotect``
returns exactly what was protected. Every RPC goes into :attr:`Driver.transcript`, from which
:func:`passive_cases` builds passive-client test vectors as the harness's ``active_to_passive.js`` does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from pyxmtp.proto.mls_client import mls_client_pb2 as pb
from pyxmtp.proto.mls_client.mls_client_pb2_grpc import MLSClientStub

Step = Mapping[str, Any]


class ScenarioFailure(AssertionError):
    """A step failed: a call was refused or a check did not hold."""

    def __init__(self, index: int, step: Step, reason: str) -> None:
        self.index = index
        self.step = step
        super().__init__(f"step {index} {dict(step)}: {reason}")


@dataclass(frozen=True, slots=True)
class Rpc:
    actor: str
    name: str
    request: Message
    response: Message


def actors(script: Sequence[Step]) -> list[str]:
    """Every actor of a script, in order of first appearance (step actors, members created with a group,
    external joiners)."""
    seen: dict[str, None] = {}
    for step in script:
        if step.get("actor"):
            seen[step["actor"]] = None
        if step["action"] == "createGroup":
            seen.update(dict.fromkeys(step.get("members", ())))
        if step["action"] == "externalJoin":
            seen[step["joiner"]] = None
    return list(seen)


@dataclass
class Driver:
    """Runs one script for one (cipher suite, handshake encryption, assignment of actors to servers)."""

    clients: Mapping[str, MLSClientStub]
    suite: int
    encrypt: bool
    state: dict[str, int] = field(default_factory=dict)
    transaction: dict[str, int] = field(default_factory=dict)
    transcript: list[Rpc] = field(default_factory=list)
    cache: list[dict[str, bytes]] = field(default_factory=list)

    async def call(self, actor: str, name: str, request: Message) -> Any:
        response = await getattr(self.clients[actor], name)(request, timeout=60)
        self.transcript.append(Rpc(actor, name, request, response))
        return response

    def get(self, index: int, key: str) -> bytes:
        try:
            return self.cache[index][key]
        except (IndexError, KeyError):
            raise KeyError(f"no {key} at step {index}") from None

    async def run(self, script: Sequence[Step]) -> None:
        """Every step in order, then Free for every state (as the test-runner does)."""
        self.cache = [{} for _ in script]
        try:
            for i, step in enumerate(script):
                try:
                    await getattr(self, "do_" + step["action"])(i, step)
                except ScenarioFailure:
                    raise
                except Exception as exc:
                    raise ScenarioFailure(i, step, f"{type(exc).__name__}: {exc}") from exc
        finally:
            for actor, state in self.state.items():
                await self.call(actor, "Free", pb.FreeRequest(state_id=state))

    def _check(self, ok: bool, i: int, step: Step, reason: str) -> None:
        if not ok:
            raise ScenarioFailure(i, step, reason)

    # --- steps ----------------------------------------------------------------------------------------------
    async def _key_package(self, actor: str) -> pb.CreateKeyPackageResponse:
        request = pb.CreateKeyPackageRequest(cipher_suite=self.suite, identity=actor.encode())
        response: pb.CreateKeyPackageResponse = await self.call(actor, "CreateKeyPackage", request)
        self.transaction[actor] = response.transaction_id
        return response

    async def _join(
        self, i: int, step: Step, actor: str, welcome: bytes, tree: bytes, auth: bytes | None
    ) -> None:
        request = pb.JoinGroupRequest(
            transaction_id=self.transaction[actor],
            welcome=welcome,
            encrypt_handshake=self.encrypt,
            identity=actor.encode(),
            ratchet_tree=tree,
        )
        response = await self.call(actor, "JoinGroup", request)
        if auth is not None:
            self._check(response.epoch_authenticator == auth, i, step, f"{actor} disagrees on the epoch")
        self.state[actor] = response.state_id

    async def _handle(
        self, i: int, step: Step, actor: str, commit: bytes, proposals: Sequence[bytes], auth: bytes
    ) -> None:
        request = pb.HandleCommitRequest(state_id=self.state[actor], proposal=list(proposals), commit=commit)
        response = await self.call(actor, "HandleCommit", request)
        self._check(response.epoch_authenticator == auth, i, step, f"{actor} disagrees on the epoch")
        self.state[actor] = response.state_id

    async def _pending(self, actor: str) -> bytes:
        request = pb.HandlePendingCommitRequest(state_id=self.state[actor])
        response = await self.call(actor, "HandlePendingCommit", request)
        self.state[actor] = response.state_id
        auth: bytes = response.epoch_authenticator
        return auth

    async def do_createGroup(self, i: int, step: Step) -> None:
        actor = step["actor"]
        group_id = uuid.uuid4().bytes.hex().encode()
        request = pb.CreateGroupRequest(
            group_id=group_id,
            cipher_suite=self.suite,
            encrypt_handshake=self.encrypt,
            identity=actor.encode(),
        )
        self.state[actor] = (await self.call(actor, "CreateGroup", request)).state_id
        self.cache[i]["group_id"] = group_id
        members = step.get("members", [])
        if not members:
            return
        key_packages = [(await self._key_package(m)).key_package for m in members]
        by_value = [pb.ProposalDescription(proposal_type=b"add", key_package=kp) for kp in key_packages]
        commit = await self.call(
            actor, "Commit", pb.CommitRequest(state_id=self.state[actor], by_value=by_value)
        )
        auth = await self._pending(actor)
        for m in members:
            await self._join(i, step, m, commit.welcome, b"", auth)

    async def do_createKeyPackage(self, i: int, step: Step) -> None:
        self.cache[i]["key_package"] = (await self._key_package(step["actor"])).key_package

    async def do_joinGroup(self, i: int, step: Step) -> None:
        await self._join(i, step, step["actor"], self.get(step["welcome"], "welcome"), b"", None)

    async def do_externalJoin(self, i: int, step: Step) -> None:
        actor, joiner = step["actor"], step["joiner"]
        request = pb.GroupInfoRequest(
            state_id=self.state[actor], external_tree=step.get("externalTree", False)
        )
        info = await self.call(actor, "GroupInfo", request)
        psks = [
            pb.PreSharedKey(psk_id=self.get(k, "psk_id"), psk_secret=self.get(k, "psk_secret"))
            for k in step.get("psks", [])
        ]
        join = await self.call(
            joiner,
            "ExternalJoin",
            pb.ExternalJoinRequest(
                group_info=info.group_info,
                ratchet_tree=info.ratchet_tree,
                encrypt_handshake=self.encrypt,
                identity=joiner.encode(),
                remove_prior=step.get("removePrior", False),
                psks=psks,
            ),
        )
        self.state[joiner] = join.state_id
        self.cache[i].update(commit=join.commit, epoch_authenticator=join.epoch_authenticator)
        for member in [*step.get("members", []), actor]:
            await self._handle(i, step, member, join.commit, [], join.epoch_authenticator)

    async def do_installExternalPSK(self, i: int, step: Step) -> None:
        psk_id, secret = os.urandom(32), os.urandom(32)
        self.cache[i].update(psk_id=psk_id, psk_secret=secret)
        for client in step["clients"]:
            number = self.state.get(client, self.transaction.get(client, 0))
            request = pb.StorePSKRequest(state_or_transaction_id=number, psk_id=psk_id, psk_secret=secret)
            await self.call(client, "StorePSK", request)

    async def do_groupInfo(self, i: int, step: Step) -> None:
        actor = step["actor"]
        request = pb.GroupInfoRequest(
            state_id=self.state[actor], external_tree=step.get("externalTree", False)
        )
        info = await self.call(actor, "GroupInfo", request)
        self.cache[i].update(group_info=info.group_info, ratchet_tree=info.ratchet_tree)

    async def _proposal(self, i: int, actor: str, name: str, request: Message) -> None:
        self.cache[i]["proposal"] = (await self.call(actor, name, request)).proposal

    async def do_addProposal(self, i: int, step: Step) -> None:
        a = step["actor"]
        kp = self.get(step["keyPackage"], "key_package")
        await self._proposal(
            i, a, "AddProposal", pb.AddProposalRequest(state_id=self.state[a], key_package=kp)
        )

    async def do_updateProposal(self, i: int, step: Step) -> None:
        a = step["actor"]
        await self._proposal(i, a, "UpdateProposal", pb.UpdateProposalRequest(state_id=self.state[a]))

    async def do_removeProposal(self, i: int, step: Step) -> None:
        a = step["actor"]
        request = pb.RemoveProposalRequest(state_id=self.state[a], removed_id=step["removed"].encode())
        await self._proposal(i, a, "RemoveProposal", request)

    async def do_externalPSKProposal(self, i: int, step: Step) -> None:
        a = step["actor"]
        request = pb.ExternalPSKProposalRequest(
            state_id=self.state[a], psk_id=self.get(step["pskID"], "psk_id")
        )
        await self._proposal(i, a, "ExternalPSKProposal", request)

    async def do_resumptionPSKProposal(self, i: int, step: Step) -> None:
        a = step["actor"]
        request = pb.ResumptionPSKProposalRequest(state_id=self.state[a], epoch_id=step["epochID"])
        await self._proposal(i, a, "ResumptionPSKProposal", request)

    async def do_groupContextExtensionsProposal(self, i: int, step: Step) -> None:
        a = step["actor"]
        request = pb.GroupContextExtensionsProposalRequest(
            state_id=self.state[a], extensions=[_extension(e) for e in step["extensions"]]
        )
        await self._proposal(i, a, "GroupContextExtensionsProposal", request)

    def _description(self, d: Mapping[str, Any]) -> pb.ProposalDescription:
        kind = d["proposalType"]
        out = pb.ProposalDescription(proposal_type=kind.encode())
        if kind == "add":
            out.key_package = self.get(d["keyPackage"], "key_package")
        elif kind == "remove":
            out.removed_id = d["removed"].encode()
        elif kind == "externalPSK":
            out.psk_id = self.get(d["pskID"], "psk_id")
        elif kind == "resumptionPSK":
            out.epoch_id = d["epochID"]
        elif kind == "groupContextExtensions":
            out.extensions.extend(_extension(e) for e in d.get("extensions", []))
        else:
            raise KeyError(f"proposal type {kind!r} is not driven here")
        return out

    async def _commit(self, i: int, step: Step) -> tuple[pb.CommitResponse, list[bytes]]:
        actor = step["actor"]
        by_reference = [self.get(k, "proposal") for k in step.get("byReference", [])]
        external_tree = step.get("external_tree", False)
        request = pb.CommitRequest(
            state_id=self.state[actor],
            by_reference=by_reference,
            by_value=[self._description(d) for d in step.get("byValue", [])],
            force_path=step.get("force_path", False),
            external_tree=external_tree,
        )
        response: pb.CommitResponse = await self.call(actor, "Commit", request)
        self.cache[i].update(welcome=response.welcome, commit=response.commit)
        if external_tree:
            self.cache[i]["ratchet_tree"] = response.ratchet_tree
        return response, by_reference

    async def do_commit(self, i: int, step: Step) -> None:
        await self._commit(i, step)

    async def do_fullCommit(self, i: int, step: Step) -> None:
        actor = step["actor"]
        response, by_reference = await self._commit(i, step)
        auth = await self._pending(actor)
        self.cache[i]["epoch_authenticator"] = auth
        for member in step.get("members", []):
            await self._handle(i, step, member, response.commit, by_reference, auth)
        tree = response.ratchet_tree if step.get("external_tree", False) else b""
        for joiner in step.get("joiners", []):
            await self._join(i, step, joiner, response.welcome, tree, auth)

    async def do_handleCommit(self, i: int, step: Step) -> None:
        actor = step["actor"]
        proposals = [self.get(k, "proposal") for k in step.get("byReference", [])]
        request = pb.HandleCommitRequest(
            state_id=self.state[actor], proposal=proposals, commit=self.get(step["commit"], "commit")
        )
        self.state[actor] = (await self.call(actor, "HandleCommit", request)).state_id

    async def do_handlePendingCommit(self, i: int, step: Step) -> None:
        await self._pending(step["actor"])

    async def do_protect(self, i: int, step: Step) -> None:
        actor = step["actor"]
        ad, plaintext = step["authenticatedData"].encode(), step["plaintext"].encode()
        request = pb.ProtectRequest(state_id=self.state[actor], authenticated_data=ad, plaintext=plaintext)
        response = await self.call(actor, "Protect", request)
        self.cache[i].update(authenticatedData=ad, plaintext=plaintext, ciphertext=response.ciphertext)

    async def do_unprotect(self, i: int, step: Step) -> None:
        actor, k = step["actor"], step["ciphertext"]
        request = pb.UnprotectRequest(state_id=self.state[actor], ciphertext=self.get(k, "ciphertext"))
        response = await self.call(actor, "Unprotect", request)
        self._check(
            response.authenticated_data == self.get(k, "authenticatedData"), i, step, "authenticated data"
        )
        self._check(response.plaintext == self.get(k, "plaintext"), i, step, "plaintext")

    async def do_reinit(self, i: int, step: Step) -> None:
        actor = step.get("proposer") or step["committer"]
        request = pb.ReInitProposalRequest(state_id=self.state[actor], cipher_suite=self.suite)
        await self.call(actor, "ReInitProposal", request)


def _extension(e: Mapping[str, Any]) -> pb.Extension:
    """A config extension: ``extension_data`` is base64, as protobuf JSON writes bytes."""
    import base64

    return pb.Extension(
        extension_type=e["extension_type"], extension_data=base64.b64decode(e["extension_data"])
    )


def passive_cases(transcript: Sequence[Rpc], suite: int) -> list[dict[str, Any]]:
    """Passive-client test vectors from a transcript: for each actor that joined from a Welcome, its key package
    and private keys, the Welcome, the external PSKs it was given, and the commits it handled before it first
    did anything else (as the harness's active_to_passive.js)."""
    cases = []
    for actor in dict.fromkeys(r.actor for r in transcript if r.name == "JoinGroup"):
        rpcs = [r for r in transcript if r.actor == actor and r.name not in ("StorePSK", "Free")]
        psks = [r.request for r in transcript if r.actor == actor and r.name == "StorePSK"]
        if len(rpcs) < 2 or (rpcs[0].name, rpcs[1].name) != ("CreateKeyPackage", "JoinGroup"):
            continue
        made, join = rpcs[0].response, rpcs[1]
        assert isinstance(made, pb.CreateKeyPackageResponse) and isinstance(join.request, pb.JoinGroupRequest)
        epochs = []
        for r in rpcs[2:]:
            if r.name != "HandleCommit":
                break
            assert isinstance(r.request, pb.HandleCommitRequest) and isinstance(
                r.response, pb.HandleCommitResponse
            )
            epochs.append(
                {
                    "proposals": [p.hex() for p in r.request.proposal],
                    "commit": r.request.commit.hex(),
                    "epoch_authenticator": r.response.epoch_authenticator.hex(),
                }
            )
        assert isinstance(join.response, pb.JoinGroupResponse)
        cases.append(
            {
                "cipher_suite": suite,
                "key_package": made.key_package.hex(),
                "init_priv": made.init_priv.hex(),
                "encryption_priv": made.encryption_priv.hex(),
                "signature_priv": made.signature_priv.hex(),
                "welcome": join.request.welcome.hex(),
                "ratchet_tree": join.request.ratchet_tree.hex() if join.request.ratchet_tree else None,
                "initial_epoch_authenticator": join.response.epoch_authenticator.hex(),
                "external_psks": [{"psk_id": p.psk_id.hex(), "psk": p.psk_secret.hex()} for p in psks],
                "epochs": epochs,
            }
        )
    return cases
