"""Managing an inbox from the client: linked accounts, the recovery identifier, installations, signatures with the
installation key, inbox states, and (from :mod:`.key_package_status`) key-package statuses: node-sdk 6.0's identity
API over libxmtp 1.10.

Each function takes what it needs explicitly: an :class:`InboxContext` (``api``, ``identities``,
``installation``, ``inbox_id``, ``clock_ns``; a :class:`~pyxmtp.client.Client` and its ``ctx`` have all five), or
less. :class:`~pyxmtp.client.Client` offers every one of them as a method (the client's creating signer signing
for the recovery identifier by default), and brings its conversations in line after a revocation.

Every identity change comes in two forms, as in node-sdk:

- **request, sign, apply**: ``*_request(ctx, ...)`` builds the update against the inbox's latest state on the
  node and returns a :class:`~pyxmtp.identity.signature_request.SignatureRequest` (already signed by the
  installation key where libxmtp signs with it); the app has each wallet or passkey it lists as missing sign
  :attr:`~pyxmtp.identity.signature_request.SignatureRequest.signature_text`, then :func:`apply_signature_request`;
- **one call** with the signers: :func:`add_account`, :func:`remove_account`, :func:`revoke_installations`,
  :func:`revoke_all_other_installations`, :func:`change_recovery_identifier`.

Who signs what (XIP-46): linking an account takes the new account's signature and a member's (libxmtp's: the
installation key, which this module adds itself); unlinking an account, revoking installations and changing the
recovery identifier take the recovery identifier's alone. Unlinking an account also revokes the installations it
registered.

Before anything is published, :func:`apply_signature_request` holds the update to what the node will check:
every signature, the XIP-46 rules against the inbox's current state, the update's bounds and the inbox's
installation and member bounds (:mod:`pyxmtp.identity.limits`). A refused update raises the identity layer's
typed error naming the rule (``missing_existing_member`` for a revoke not signed by the recovery identifier) and
nothing is sent. The node checks again (:class:`~pyxmtp.client.api.ApiCallError`). An apply that failed on the
way may be repeated with the same request: an update already in the log counts as applied.

After a revocation, the revoked installations stay in the trees of the inbox's conversations until a member
commits their removal: :func:`update_group_installations` does it for ours, libxmtp members do it before a send
(at most every 5 s) and with any membership commit. The revoked installation reads nothing after that commit, and
what it sends from an older epoch is refused by every member (its leaf is gone).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pyxmtp.identity import builder
from pyxmtp.identity.actions import RevokeAssociation
from pyxmtp.identity.associations import apply_update, verify_update
from pyxmtp.identity.errors import AssociationError, IdentityError, Rule
from pyxmtp.identity.inbox import is_inbox_id
from pyxmtp.identity.installation import InstallationKey, verify_public_signature
from pyxmtp.identity.limits import check_membership_bounds, check_update_shape
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signature_request import SignatureRequest, WireSigner
from pyxmtp.identity.signatures import Signer, SmartContractWalletVerifier
from pyxmtp.identity.state import AssociationState

from .api import NodeApi
from .identity import IdentityCache
from .key_package_status import KeyPackageLifetime as KeyPackageLifetime
from .key_package_status import KeyPackageReplyError as KeyPackageReplyError
from .key_package_status import KeyPackageStatus as KeyPackageStatus
from .key_package_status import key_package_status as key_package_status
from .key_package_status import key_package_statuses as key_package_statuses
from .members import InboxState as InboxState
from .members import InstallationInfo as InstallationInfo

AnySigner = Signer | WireSigner


class InboxContext(Protocol):
    """What the functions of this module need from a client (a :class:`~pyxmtp.client.Client` has it all)."""

    @property
    def api(self) -> NodeApi: ...

    @property
    def identities(self) -> IdentityCache: ...

    @property
    def installation(self) -> InstallationKey: ...

    @property
    def inbox_id(self) -> str: ...

    @property
    def clock_ns(self) -> Callable[[], int]: ...


class GroupInstallations(Protocol):
    """A conversation whose tree can be brought in line with its members' identity logs
    (:class:`~pyxmtp.client.ClientConversation`)."""

    @property
    def group_id(self) -> bytes: ...

    @property
    def is_active(self) -> bool: ...

    async def update_installations(self) -> bool: ...


# --- errors ---------------------------------------------------------------------------------------------------


class InboxOperationError(Exception):
    """An identity change or query the caller asked for cannot be made as asked (nothing was published)."""


class InboxNotFound(InboxOperationError, LookupError):
    """Inboxes without an identity log on the node (``inbox_ids``)."""

    def __init__(self, inbox_ids: Sequence[str]) -> None:
        super().__init__(f"no identity log on the node for inbox(es) {', '.join(inbox_ids)}")
        self.inbox_ids = list(inbox_ids)


class AccountAlreadyAssociated(InboxOperationError):
    """The account to link already belongs to an inbox (``inbox_id``: this one, or another one, which linking it
    here would take it from: allowed only with ``allow_inbox_reassign``), as node-sdk's error of that name."""

    def __init__(self, identifier: MemberIdentifier, inbox_id: str, *, this_inbox: bool) -> None:
        where = (
            "this inbox already"
            if this_inbox
            else f"inbox {inbox_id}; pass allow_inbox_reassign=True to move it"
        )
        super().__init__(f"{identifier!r} already belongs to {where}")
        self.identifier = identifier
        self.inbox_id = inbox_id


class NotAMember(InboxOperationError):
    """Members named for removal that the inbox does not have (``missing``)."""

    def __init__(self, inbox_id: str, missing: Sequence[MemberIdentifier]) -> None:
        names = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        super().__init__(f"not members of inbox {inbox_id}: {names}")
        self.missing = list(missing)


# --- reading states -------------------------------------------------------------------------------------------


async def association_states(
    api: NodeApi, identities: IdentityCache, inbox_ids: Iterable[str], *, refresh: bool = True
) -> dict[str, AssociationState]:
    """The verified state of each inbox (the node asked first if ``refresh``, or for inboxes not seen yet);
    :class:`InboxNotFound` naming every inbox without a log, ``ValueError`` for a string that is no inbox id."""
    wanted = list(dict.fromkeys(inbox_ids))
    bad = [i for i in wanted if not is_inbox_id(i)]
    if bad:
        raise ValueError(f"not inbox ids (64 lowercase hex characters): {[b[:80] for b in bad[:10]]}")
    to_fetch = wanted if refresh else [i for i in wanted if identities.state(i) is None]
    if to_fetch:
        await identities.fetch(api, to_fetch)
    states = {i: identities.state(i) for i in wanted}
    missing = [i for i, s in states.items() if s is None]
    if missing:
        raise InboxNotFound(missing)
    return {i: s for i, s in states.items() if s is not None}


async def inbox_state(ctx: InboxContext, *, refresh: bool = False) -> InboxState:
    """This client's inbox state (node-sdk ``inboxState(refresh)``): from the verified identity logs the client
    holds, or the node's latest if ``refresh``; :class:`InboxNotFound` before the inbox is registered."""
    return (await inbox_states(ctx, [ctx.inbox_id], refresh=refresh))[0]


async def inbox_states(
    ctx: InboxContext, inbox_ids: Sequence[str], *, refresh: bool = False
) -> list[InboxState]:
    """The state of each inbox, in the order asked, each once (node-sdk ``getInboxStates`` / ``fetchInboxStates``):
    from the verified identity logs the client holds, the node asked first if ``refresh`` or for an inbox not
    held yet. The logs are verified as the node's are (a log that does not verify raises
    :class:`~pyxmtp.client.identity.IdentityLogError`). An inbox without an identity log on the node (no such
    inbox) is an error, as in libxmtp: :class:`InboxNotFound` names every one, ``ValueError`` a string that is no
    inbox id."""
    states = await association_states(ctx.api, ctx.identities, inbox_ids, refresh=refresh)
    return [InboxState.from_association_state(states[i]) for i in dict.fromkeys(inbox_ids)]


async def _own_state(ctx: InboxContext) -> AssociationState:
    return (await association_states(ctx.api, ctx.identities, [ctx.inbox_id]))[ctx.inbox_id]


def _require_recovery(state: AssociationState, signer: MemberIdentifier) -> None:
    """The check the state machine runs on a revoke or recovery change, made before anything is signed."""
    if signer != state.recovery_identifier:
        raise AssociationError(
            Rule.MISSING_EXISTING_MEMBER,
            f"{signer!r} is not the recovery identifier of inbox {state.inbox_id} "
            f"({state.recovery_identifier!r}); only it may revoke or change the recovery identifier",
        )


# --- building requests ----------------------------------------------------------------------------------------


async def add_account_request(
    ctx: InboxContext,
    new_identifier: MemberIdentifier,
    *,
    allow_inbox_reassign: bool = False,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Link a wallet or passkey to this inbox (node-sdk ``unsafe_addAccountSignatureRequest``): signed here by the
    installation key (libxmtp's ``associate_identity``); the new account must sign it too.

    :class:`AccountAlreadyAssociated` if the account already has an inbox (this one; or another one, unless
    ``allow_inbox_reassign``: the account then moves here and leaves that inbox unreachable by it)."""
    state = await _own_state(ctx)
    return await _add_account(ctx, state, new_identifier, allow_inbox_reassign, scw_verifier)


async def _add_account(
    ctx: InboxContext,
    state: AssociationState,
    new_identifier: MemberIdentifier,
    allow_inbox_reassign: bool,
    scw_verifier: SmartContractWalletVerifier | None,
) -> SignatureRequest:
    if not new_identifier.is_identifier:
        raise ValueError("an account is an Ethereum address or a passkey")
    if state.get(new_identifier) is not None:
        raise AccountAlreadyAssociated(new_identifier, ctx.inbox_id, this_inbox=True)
    installation = ctx.installation.identifier
    if state.get(installation) is None:
        raise InboxOperationError(
            f"installation {installation} is not (or no longer) a member of inbox {ctx.inbox_id}"
        )
    if new_identifier.kind is MemberKind.ETHEREUM:  # the node indexes addresses only, as xmtp-node-go
        found = await ctx.api.get_inbox_ids([(new_identifier.address, new_identifier.identifier_kind())])
        current = found.get(new_identifier.address)
        if current is not None and (current == ctx.inbox_id or not allow_inbox_reassign):
            raise AccountAlreadyAssociated(new_identifier, current, this_inbox=current == ctx.inbox_id)
    request = builder.add_account_request(
        ctx.inbox_id,
        new_identifier,
        installation,
        client_timestamp_ns=ctx.clock_ns(),
        scw_verifier=scw_verifier,
    )
    request.sign_with(ctx.installation)
    return request


async def remove_account_request(
    ctx: InboxContext,
    identifier: MemberIdentifier,
    *,
    allow_self_revocation: bool = False,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Unlink a wallet or passkey (node-sdk ``unsafe_removeAccountSignatureRequest``), to be signed by the
    recovery identifier. It also revokes every installation that account registered: if this installation is
    one of them, :class:`InboxOperationError` unless ``allow_self_revocation``."""
    state = await _own_state(ctx)
    return _remove_account(ctx, state, identifier, allow_self_revocation, scw_verifier)


def _remove_account(
    ctx: InboxContext,
    state: AssociationState,
    identifier: MemberIdentifier,
    allow_self_revocation: bool,
    scw_verifier: SmartContractWalletVerifier | None,
) -> SignatureRequest:
    if not identifier.is_identifier:
        raise ValueError("an account is an Ethereum address or a passkey; revoke installations by id")
    if state.get(identifier) is None:
        raise NotAMember(ctx.inbox_id, [identifier])
    registered = {m.identifier for m in state.members_by_parent(identifier)}
    if ctx.installation.identifier in registered and not allow_self_revocation:
        raise InboxOperationError(
            f"removing {identifier!r} also revokes this installation (that account registered it); "
            "pass allow_self_revocation=True to do it anyway"
        )
    return builder.revoke_members_request(
        ctx.inbox_id,
        state.recovery_identifier,
        [identifier],
        client_timestamp_ns=ctx.clock_ns(),
        scw_verifier=scw_verifier,
    )


async def revoke_installations_request(
    ctx: InboxContext,
    installation_ids: Sequence[bytes],
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Revoke installations of this inbox by id (node-sdk ``unsafe_revokeInstallationsSignatureRequest``), to
    be signed by the recovery identifier. :class:`NotAMember` names ids that are not installations of the inbox
    (a typo, or one already revoked)."""
    state = await _own_state(ctx)
    return _revoke_installations(ctx.inbox_id, state, installation_ids, ctx.clock_ns(), scw_verifier)


def _revoke_installations(
    inbox_id: str,
    state: AssociationState,
    installation_ids: Sequence[bytes],
    now_ns: int,
    scw_verifier: SmartContractWalletVerifier | None,
) -> SignatureRequest:
    request = builder.revoke_installations_request(
        inbox_id,
        state.recovery_identifier,
        installation_ids,
        client_timestamp_ns=now_ns,
        scw_verifier=scw_verifier,
    )
    unknown = [
        a.member for a in request.actions if isinstance(a, RevokeAssociation) and state.get(a.member) is None
    ]
    if unknown:
        raise NotAMember(inbox_id, unknown)
    return request


async def revoke_all_other_installations_request(
    ctx: InboxContext, *, scw_verifier: SmartContractWalletVerifier | None = None
) -> SignatureRequest | None:
    """Revoke every installation of this inbox but this one (node-sdk
    ``unsafe_revokeAllOtherInstallationsSignatureRequest``), to be signed by the recovery identifier; None when
    there is no other."""
    return _revoke_all_others(ctx, await _own_state(ctx), scw_verifier)


def _revoke_all_others(
    ctx: InboxContext, state: AssociationState, scw_verifier: SmartContractWalletVerifier | None
) -> SignatureRequest | None:
    others = [i for i in state.installations() if i != ctx.installation.public_key]
    if not others:
        return None
    return _revoke_installations(ctx.inbox_id, state, others, ctx.clock_ns(), scw_verifier)


async def change_recovery_identifier_request(
    ctx: InboxContext,
    new_identifier: MemberIdentifier,
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> SignatureRequest:
    """Make ``new_identifier`` (a wallet or passkey, member or not) the recovery identifier (node-sdk
    ``unsafe_changeRecoveryIdentifierSignatureRequest``), to be signed by the current one."""
    return _change_recovery(ctx, await _own_state(ctx), new_identifier, scw_verifier)


def _change_recovery(
    ctx: InboxContext,
    state: AssociationState,
    new_identifier: MemberIdentifier,
    scw_verifier: SmartContractWalletVerifier | None,
) -> SignatureRequest:
    if not new_identifier.is_identifier:
        raise ValueError("the recovery identifier is an Ethereum address or a passkey")
    return builder.change_recovery_request(
        ctx.inbox_id,
        state.recovery_identifier,
        new_identifier,
        client_timestamp_ns=ctx.clock_ns(),
        scw_verifier=scw_verifier,
    )


# --- applying -------------------------------------------------------------------------------------------------


class IdentityAccess(Protocol):
    """The part of :class:`InboxContext` :func:`apply_signature_request` needs."""

    @property
    def api(self) -> NodeApi: ...

    @property
    def identities(self) -> IdentityCache: ...


async def apply_signature_request(
    ctx: IdentityAccess,
    request: SignatureRequest,
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Publish a fully signed request and return the inbox's state with it (node-sdk
    ``unsafe_applySignatureRequest``). Checked first, against the inbox's latest state, as the node will check
    it (see the module docstring): :class:`~pyxmtp.identity.errors.SignatureRequestError` (``missing_signer``)
    if a signature is missing, the identity layer's error naming the broken rule or bound otherwise; nothing is
    published then."""
    return await _apply(ctx.api, ctx.identities, request, scw_verifier)


async def _apply(
    api: NodeApi,
    identities: IdentityCache,
    request: SignatureRequest,
    scw_verifier: SmartContractWalletVerifier | None,
    state: AssociationState | None = None,
) -> AssociationState:
    """Check, publish, read back; ``state``: the inbox's state the request was just built on (else fetched)."""
    update = request.build_identity_update()
    verifier = scw_verifier if scw_verifier is not None else request.scw_verifier
    inbox_id = request.inbox_id
    if state is None:
        state = (await association_states(api, identities, [inbox_id]))[inbox_id]
    check_update_shape(update)
    verified = verify_update(update, scw_verifier=verifier)
    if all(state.has_seen(raw) for raw in verified.signer_bytes()):
        return state  # applied already (an earlier try reached the node, its answer did not reach us)
    new_state = apply_update(state, update, scw_verifier=verifier)
    check_membership_bounds(state, new_state)
    await api.publish_identity_update(update)
    await identities.fetch(api, [inbox_id])
    latest = identities.state(inbox_id)
    assert latest is not None  # it was known before
    return latest


async def add_account(
    ctx: InboxContext,
    new_signer: AnySigner,
    *,
    allow_inbox_reassign: bool = False,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Link ``new_signer``'s wallet or passkey to this inbox in one call (node-sdk ``unsafe_addAccount``): the
    installation key and the new account sign. See :func:`add_account_request`."""
    state = await _own_state(ctx)
    request = await _add_account(ctx, state, new_signer.identifier, allow_inbox_reassign, scw_verifier)
    request.sign_with(new_signer)
    return await _apply(ctx.api, ctx.identities, request, scw_verifier, state)


async def remove_account(
    ctx: InboxContext,
    recovery_signer: AnySigner,
    identifier: MemberIdentifier,
    *,
    allow_self_revocation: bool = False,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Unlink an account, signed by the recovery identifier (node-sdk ``removeAccount``); see
    :func:`remove_account_request`. A signer that is not the recovery identifier is refused before anything is
    signed (:class:`~pyxmtp.identity.errors.AssociationError`, ``missing_existing_member``), as by every
    function here that needs it."""
    state = await _own_state(ctx)
    _require_recovery(state, recovery_signer.identifier)
    request = _remove_account(ctx, state, identifier, allow_self_revocation, scw_verifier)
    request.sign_with(recovery_signer)
    return await _apply(ctx.api, ctx.identities, request, scw_verifier, state)


async def revoke_installations(
    ctx: InboxContext,
    recovery_signer: AnySigner,
    installation_ids: Sequence[bytes],
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Revoke installations of this inbox by id, signed by the recovery identifier (node-sdk
    ``revokeInstallations``); see :func:`revoke_installations_request`."""
    state = await _own_state(ctx)
    _require_recovery(state, recovery_signer.identifier)
    request = _revoke_installations(ctx.inbox_id, state, installation_ids, ctx.clock_ns(), scw_verifier)
    request.sign_with(recovery_signer)
    return await _apply(ctx.api, ctx.identities, request, scw_verifier, state)


async def revoke_all_other_installations(
    ctx: InboxContext, recovery_signer: AnySigner, *, scw_verifier: SmartContractWalletVerifier | None = None
) -> AssociationState:
    """Revoke every installation of this inbox but this one, signed by the recovery identifier (node-sdk
    ``revokeAllOtherInstallations``); when there is no other, nothing is published."""
    state = await _own_state(ctx)
    _require_recovery(state, recovery_signer.identifier)
    request = _revoke_all_others(ctx, state, scw_verifier)
    if request is None:
        return state
    request.sign_with(recovery_signer)
    return await _apply(ctx.api, ctx.identities, request, scw_verifier, state)


async def change_recovery_identifier(
    ctx: InboxContext,
    recovery_signer: AnySigner,
    new_identifier: MemberIdentifier,
    *,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Make ``new_identifier`` the recovery identifier, signed by the current one (node-sdk
    ``changeRecoveryIdentifier``). From then on only ``new_identifier`` can revoke or change it again."""
    state = await _own_state(ctx)
    _require_recovery(state, recovery_signer.identifier)
    request = _change_recovery(ctx, state, new_identifier, scw_verifier)
    request.sign_with(recovery_signer)
    return await _apply(ctx.api, ctx.identities, request, scw_verifier, state)


async def revoke_installations_with_signer(
    api: NodeApi,
    recovery_signer: AnySigner,
    inbox_id: str,
    installation_ids: Sequence[bytes],
    *,
    clock_ns: Callable[[], int] = time.time_ns,
    scw_verifier: SmartContractWalletVerifier | None = None,
) -> AssociationState:
    """Revoke installations of any inbox without a client of it (node-sdk's static
    ``Client.revokeInstallations``): what the recovery wallet of an inbox that reached its installation limit
    does before it can register a new one."""
    identities = IdentityCache()
    state = (await association_states(api, identities, [inbox_id]))[inbox_id]
    _require_recovery(state, recovery_signer.identifier)
    request = _revoke_installations(inbox_id, state, installation_ids, clock_ns(), scw_verifier)
    request.sign_with(recovery_signer)
    return await _apply(api, identities, request, scw_verifier, state)


@dataclass
class InstallationsUpdate:
    """What :func:`update_group_installations` did: the conversations that committed a change, and those that
    failed with their error."""

    changed: list[bytes] = field(default_factory=list)
    failed: dict[bytes, Exception] = field(default_factory=dict)


async def update_group_installations(conversations: Iterable[GroupInstallations]) -> InstallationsUpdate:
    """Bring each active conversation's tree in line with its members' identity logs now (a commit adding new
    installations and removing revoked ones where needed), as after a revocation. A conversation that fails does
    not stop the others: its error is reported."""
    result = InstallationsUpdate()
    for conversation in conversations:
        if not conversation.is_active:
            continue
        try:
            if await conversation.update_installations():
                result.changed.append(conversation.group_id)
        except Exception as exc:  # reported per conversation, whatever it is; cancellation still propagates
            result.failed[conversation.group_id] = exc
    return result


# --- the installation key -------------------------------------------------------------------------------------


def sign_with_installation_key(ctx: InboxContext, text: str) -> bytes:
    """This installation's 64-byte signature of ``text`` (node-sdk ``signWithInstallationKey``, libxmtp's
    ``sign_with_installation_key``: Ed25519ph with context ``PUBLIC SIGNATURE CONTEXT``)."""
    return ctx.installation.sign_public(text)


def verify_signed_with_public_key(text: str, signature: bytes, public_key: bytes) -> bool:
    """Whether ``signature`` is the installation ``public_key``'s :func:`sign_with_installation_key` signature of
    ``text`` (node-sdk ``verifySignedWithPublicKey``). Malformed keys and signatures are simply not valid."""
    try:
        verify_public_signature(bytes(public_key), text, bytes(signature))
    except IdentityError:
        return False
    return True


def verify_signed_with_installation_key(ctx: InboxContext, text: str, signature: bytes) -> bool:
    """Whether this installation signed ``text`` (node-sdk ``verifySignedWithInstallationKey``)."""
    return verify_signed_with_public_key(text, signature, ctx.installation.public_key)
