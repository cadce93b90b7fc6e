"""The MLSClient gRPC service of the IETF MLS interop harness, served by an :class:`~.client.InteropClient`.

Each call converts its request into the client's method call and the result into the response. Errors become
gRPC statuses: an unknown state number NOT_FOUND, a feature not served UNIMPLEMENTED (reinit, branch, external
senders and new-member proposals), too many states RESOURCE_EXHAUSTED, anything else the client or the MLS core
refuses (a peer's invalid message, a misuse) INVALID_ARGUMENT with the error's text. The client is not thread
safe and the service runs on one asyncio loop, so calls are handled one at a time, in arrival order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc

from pyxmtp.mls import Extension
from pyxmtp.mls.errors import MLSError
from pyxmtp.proto.mls_client import mls_client_pb2 as pb
from pyxmtp.proto.mls_client import mls_client_pb2_grpc as pb_grpc

from .client import InteropClient, InteropError, ProposalSpec

log = logging.getLogger("pyxmtp.mls_interop")

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")

_STATUS = {
    "not_found": grpc.StatusCode.NOT_FOUND,
    "unimplemented": grpc.StatusCode.UNIMPLEMENTED,
    "exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
}

#: The calls of the reinit, branch and external-proposal scenarios, which this server does not serve.
NOT_SERVED = (
    "ReInitProposal",
    "ReInitCommit",
    "HandlePendingReInitCommit",
    "HandleReInitCommit",
    "ReInitWelcome",
    "HandleReInitWelcome",
    "CreateBranch",
    "HandleBranch",
    "NewMemberAddProposal",
    "CreateExternalSigner",
    "AddExternalSigner",
    "ExternalSignerProposal",
)


def _extensions(items: Any) -> tuple[Extension, ...]:
    return tuple(Extension(e.extension_type, e.extension_data) for e in items)


def _spec(d: pb.ProposalDescription) -> ProposalSpec:
    return ProposalSpec(
        d.proposal_type.decode("ascii", "replace"),
        key_package=d.key_package,
        removed_id=d.removed_id,
        psk_id=d.psk_id,
        epoch_id=d.epoch_id,
        extensions=_extensions(d.extensions),
    )


class MLSClientService(pb_grpc.MLSClientServicer):
    """The servicer (see the module docstring)."""

    def __init__(self, client: InteropClient | None = None) -> None:
        self.client = client if client is not None else InteropClient()

    @staticmethod
    async def _run(context: Context, call: str, work: Callable[[], T]) -> T:
        """``work()``, or the call aborted with the status its error calls for."""
        try:
            return work()
        except (InteropError, MLSError) as exc:
            code = _STATUS[exc.kind] if isinstance(exc, InteropError) else grpc.StatusCode.INVALID_ARGUMENT
            log.info("%s: %s: %s", call, type(exc).__name__, exc)
            await context.abort(code, f"{type(exc).__name__}: {exc}")

    @staticmethod
    async def _not_served(context: Context, call: str) -> NoReturn:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"pyxmtp's interop server does not serve {call}")

    # --- about ----------------------------------------------------------------------------------------------
    async def Name(self, request: pb.NameRequest, context: Context) -> pb.NameResponse:
        return pb.NameResponse(name=self.client.name)

    async def SupportedCiphersuites(
        self, request: pb.SupportedCiphersuitesRequest, context: Context
    ) -> pb.SupportedCiphersuitesResponse:
        return pb.SupportedCiphersuitesResponse(ciphersuites=self.client.supported_ciphersuites())

    # --- becoming a member ----------------------------------------------------------------------------------
    async def CreateGroup(self, request: pb.CreateGroupRequest, context: Context) -> pb.CreateGroupResponse:
        r, c = request, self.client
        state = await self._run(
            context,
            "CreateGroup",
            lambda: c.create_group(r.group_id, r.cipher_suite, r.encrypt_handshake, r.identity),
        )
        return pb.CreateGroupResponse(state_id=state)

    async def CreateKeyPackage(
        self, request: pb.CreateKeyPackageRequest, context: Context
    ) -> pb.CreateKeyPackageResponse:
        r, c = request, self.client
        made = await self._run(
            context, "CreateKeyPackage", lambda: c.create_key_package(r.cipher_suite, r.identity)
        )
        return pb.CreateKeyPackageResponse(
            transaction_id=made.transaction_id,
            key_package=made.key_package,
            init_priv=made.init_priv,
            encryption_priv=made.encryption_priv,
            signature_priv=made.signature_priv,
        )

    async def JoinGroup(self, request: pb.JoinGroupRequest, context: Context) -> pb.JoinGroupResponse:
        r, c = request, self.client
        state, auth = await self._run(
            context,
            "JoinGroup",
            lambda: c.join_group(r.transaction_id, r.welcome, r.encrypt_handshake, r.ratchet_tree),
        )
        return pb.JoinGroupResponse(state_id=state, epoch_authenticator=auth)

    async def ExternalJoin(
        self, request: pb.ExternalJoinRequest, context: Context
    ) -> pb.ExternalJoinResponse:
        r, c = request, self.client
        state, commit, auth = await self._run(
            context,
            "ExternalJoin",
            lambda: c.external_join(
                r.group_info,
                r.ratchet_tree,
                r.encrypt_handshake,
                r.identity,
                remove_prior=r.remove_prior,
                psks=[(p.psk_id, p.psk_secret) for p in r.psks],
            ),
        )
        return pb.ExternalJoinResponse(state_id=state, commit=commit, epoch_authenticator=auth)

    # --- using a state --------------------------------------------------------------------------------------
    async def GroupInfo(self, request: pb.GroupInfoRequest, context: Context) -> pb.GroupInfoResponse:
        r, c = request, self.client
        info, tree = await self._run(context, "GroupInfo", lambda: c.group_info(r.state_id, r.external_tree))
        return pb.GroupInfoResponse(group_info=info, ratchet_tree=tree)

    async def StateAuth(self, request: pb.StateAuthRequest, context: Context) -> pb.StateAuthResponse:
        r, c = request, self.client
        secret = await self._run(context, "StateAuth", lambda: c.state_auth(r.state_id))
        return pb.StateAuthResponse(state_auth_secret=secret)

    async def Export(self, request: pb.ExportRequest, context: Context) -> pb.ExportResponse:
        r, c = request, self.client
        secret = await self._run(
            context, "Export", lambda: c.export(r.state_id, r.label, r.context, r.key_length)
        )
        return pb.ExportResponse(exported_secret=secret)

    async def Protect(self, request: pb.ProtectRequest, context: Context) -> pb.ProtectResponse:
        r, c = request, self.client
        ciphertext = await self._run(
            context, "Protect", lambda: c.protect(r.state_id, r.authenticated_data, r.plaintext)
        )
        return pb.ProtectResponse(ciphertext=ciphertext)

    async def Unprotect(self, request: pb.UnprotectRequest, context: Context) -> pb.UnprotectResponse:
        r, c = request, self.client
        ad, plaintext = await self._run(context, "Unprotect", lambda: c.unprotect(r.state_id, r.ciphertext))
        return pb.UnprotectResponse(authenticated_data=ad, plaintext=plaintext)

    async def StorePSK(self, request: pb.StorePSKRequest, context: Context) -> pb.StorePSKResponse:
        r, c = request, self.client
        await self._run(
            context, "StorePSK", lambda: c.store_psk(r.state_or_transaction_id, r.psk_id, r.psk_secret)
        )
        return pb.StorePSKResponse()

    async def Free(self, request: pb.FreeRequest, context: Context) -> pb.FreeResponse:
        self.client.free(request.state_id)
        return pb.FreeResponse()

    # --- proposals ------------------------------------------------------------------------------------------
    @classmethod
    async def _proposal(cls, context: Context, call: str, work: Callable[[], bytes]) -> pb.ProposalResponse:
        return pb.ProposalResponse(proposal=await cls._run(context, call, work))

    async def AddProposal(self, request: pb.AddProposalRequest, context: Context) -> pb.ProposalResponse:
        r, c = request, self.client
        return await self._proposal(context, "AddProposal", lambda: c.add_proposal(r.state_id, r.key_package))

    async def UpdateProposal(
        self, request: pb.UpdateProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        r, c = request, self.client
        return await self._proposal(context, "UpdateProposal", lambda: c.update_proposal(r.state_id))

    async def RemoveProposal(
        self, request: pb.RemoveProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        r, c = request, self.client
        return await self._proposal(
            context, "RemoveProposal", lambda: c.remove_proposal(r.state_id, r.removed_id)
        )

    async def ExternalPSKProposal(
        self, request: pb.ExternalPSKProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        r, c = request, self.client
        return await self._proposal(
            context, "ExternalPSKProposal", lambda: c.external_psk_proposal(r.state_id, r.psk_id)
        )

    async def ResumptionPSKProposal(
        self, request: pb.ResumptionPSKProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        r, c = request, self.client
        return await self._proposal(
            context, "ResumptionPSKProposal", lambda: c.resumption_psk_proposal(r.state_id, r.epoch_id)
        )

    async def GroupContextExtensionsProposal(
        self, request: pb.GroupContextExtensionsProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        r, c = request, self.client
        return await self._proposal(
            context,
            "GroupContextExtensionsProposal",
            lambda: c.group_context_extensions_proposal(r.state_id, _extensions(r.extensions)),
        )

    # --- commits --------------------------------------------------------------------------------------------
    async def Commit(self, request: pb.CommitRequest, context: Context) -> pb.CommitResponse:
        r, c = request, self.client
        result = await self._run(
            context,
            "Commit",
            lambda: c.commit(
                r.state_id,
                list(r.by_reference),
                [_spec(d) for d in r.by_value],
                force_path=r.force_path,
                external_tree=r.external_tree,
            ),
        )
        return pb.CommitResponse(
            commit=result.commit, welcome=result.welcome, ratchet_tree=result.ratchet_tree
        )

    async def HandleCommit(
        self, request: pb.HandleCommitRequest, context: Context
    ) -> pb.HandleCommitResponse:
        r, c = request, self.client
        state, auth = await self._run(
            context, "HandleCommit", lambda: c.handle_commit(r.state_id, list(r.proposal), r.commit)
        )
        return pb.HandleCommitResponse(state_id=state, epoch_authenticator=auth)

    async def HandlePendingCommit(
        self, request: pb.HandlePendingCommitRequest, context: Context
    ) -> pb.HandleCommitResponse:
        r, c = request, self.client
        state, auth = await self._run(
            context, "HandlePendingCommit", lambda: c.handle_pending_commit(r.state_id)
        )
        return pb.HandleCommitResponse(state_id=state, epoch_authenticator=auth)

    # --- not served (see NOT_SERVED) ------------------------------------------------------------------------
    async def ReInitProposal(
        self, request: pb.ReInitProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        await self._not_served(context, "ReInitProposal")

    async def ReInitCommit(self, request: pb.CommitRequest, context: Context) -> pb.CommitResponse:
        await self._not_served(context, "ReInitCommit")

    async def HandlePendingReInitCommit(
        self, request: pb.HandlePendingCommitRequest, context: Context
    ) -> pb.HandleReInitCommitResponse:
        await self._not_served(context, "HandlePendingReInitCommit")

    async def HandleReInitCommit(
        self, request: pb.HandleCommitRequest, context: Context
    ) -> pb.HandleReInitCommitResponse:
        await self._not_served(context, "HandleReInitCommit")

    async def ReInitWelcome(
        self, request: pb.ReInitWelcomeRequest, context: Context
    ) -> pb.CreateSubgroupResponse:
        await self._not_served(context, "ReInitWelcome")

    async def HandleReInitWelcome(
        self, request: pb.HandleReInitWelcomeRequest, context: Context
    ) -> pb.JoinGroupResponse:
        await self._not_served(context, "HandleReInitWelcome")

    async def CreateBranch(
        self, request: pb.CreateBranchRequest, context: Context
    ) -> pb.CreateSubgroupResponse:
        await self._not_served(context, "CreateBranch")

    async def HandleBranch(
        self, request: pb.HandleBranchRequest, context: Context
    ) -> pb.HandleBranchResponse:
        await self._not_served(context, "HandleBranch")

    async def NewMemberAddProposal(
        self, request: pb.NewMemberAddProposalRequest, context: Context
    ) -> pb.NewMemberAddProposalResponse:
        await self._not_served(context, "NewMemberAddProposal")

    async def CreateExternalSigner(
        self, request: pb.CreateExternalSignerRequest, context: Context
    ) -> pb.CreateExternalSignerResponse:
        await self._not_served(context, "CreateExternalSigner")

    async def AddExternalSigner(
        self, request: pb.AddExternalSignerRequest, context: Context
    ) -> pb.ProposalResponse:
        await self._not_served(context, "AddExternalSigner")

    async def ExternalSignerProposal(
        self, request: pb.ExternalSignerProposalRequest, context: Context
    ) -> pb.ProposalResponse:
        await self._not_served(context, "ExternalSignerProposal")


async def start_server(
    host: str = "127.0.0.1", port: int = 0, client: InteropClient | None = None
) -> tuple[grpc.aio.Server, int]:
    """A started server on ``host:port`` (0: a free port) and the port it listens on."""
    server = grpc.aio.server()
    pb_grpc.add_MLSClientServicer_to_server(MLSClientService(client), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    return server, bound
