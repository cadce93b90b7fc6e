"""What a member sends besides commits: application messages and proposals by reference (RFC 9420 6, 12.1).

Every message is signed with our leaf's key over the current GroupContext and sent as the group's policy says,
unless the caller names a handshake wire format for that one message (:func:`handshake_wire_format`);
application data is always a PrivateMessage. Sending consumes a generation of our sender ratchet.
"""

from __future__ import annotations

from ..codec import encode
from ..constants import LeafNodeSource, WireFormat
from ..crypto.keys import HPKEPrivateKey, RandomSource
from ..crypto.labels import make_proposal_ref
from ..errors import MLSError
from ..framing.content import AuthenticatedContent, ContentBody, FramedContent, Sender
from ..framing.messages import MLSMessage
from ..framing.protection import (
    PaddingPolicy,
    authenticate,
    no_padding,
    pad_to_multiple,
    protect_application,
    protect_private,
    protect_public,
)
from ..key_packages import sign_leaf_node
from ..messages.credential import Credential
from ..messages.extensions import Extension
from ..messages.proposals import Proposal, Update
from ..tree.nodes import Capabilities
from .errors import InvalidArgument
from .process import proposal_rules
from .proposals import CachedProposal, check_single_proposal
from .state import GroupState
from .transitions import GroupInput, check_allowed


def handshake_wire_format(state: GroupState, wire_format: WireFormat | None) -> WireFormat:
    """The wire format of a handshake message we send: ``wire_format`` if given (PublicMessage or
    PrivateMessage), else the group policy's."""
    if wire_format is None:
        return state.config.wire_format_policy.outgoing
    if wire_format not in (WireFormat.public_message, WireFormat.private_message):
        raise InvalidArgument(
            f"a proposal or commit is sent as a PublicMessage or a PrivateMessage, not {wire_format!r}"
        )
    return WireFormat(wire_format)


def padding_policy(state: GroupState) -> PaddingPolicy:
    block = state.config.padding_block
    return pad_to_multiple(block) if block else no_padding


def frame(state: GroupState, content: AuthenticatedContent, *, rng: RandomSource) -> bytes:
    """Our signed content of the current epoch as MLSMessage bytes (PrivateMessage or PublicMessage, as its
    wire format says)."""
    epoch = state.current
    suite = state.suite
    if content.wire_format is WireFormat.private_message:
        return protect_private(
            suite, content, epoch.secret_tree, epoch.secrets.sender_data_secret, rng, padding_policy(state)
        ).to_mls_message_bytes()
    message = protect_public(suite, content, epoch.context_bytes, epoch.secrets.membership_key)
    return encode(MLSMessage(message))


def protect(
    state: GroupState,
    body: ContentBody,
    wire_format: WireFormat,
    *,
    rng: RandomSource,
    authenticated_data: bytes,
) -> tuple[bytes, AuthenticatedContent]:
    """Sign ``body`` (application data or a proposal) as our content of the current epoch and frame it:
    ``(MLSMessage bytes, content)``."""
    epoch = state.current
    framed = FramedContent(
        epoch.context.group_id, epoch.number, Sender.member(state.own_leaf), authenticated_data, body
    )
    content = authenticate(state.suite, state.signer, wire_format, framed, epoch.context_bytes)
    return frame(state, content, rng=rng), content


def create_application_message(
    state: GroupState, data: bytes, *, rng: RandomSource, authenticated_data: bytes = b""
) -> bytes:
    """An application message (always a PrivateMessage)."""
    check_allowed(state.status, GroupInput.SEND_APPLICATION)
    epoch = state.current
    context = epoch.context
    return protect_application(
        state.suite,
        state.signer,
        epoch.secret_tree,
        epoch.secrets.sender_data_secret,
        rng,
        group_id=context.group_id,
        epoch=context.epoch,
        leaf_index=state.own_leaf,
        group_context=epoch.context_bytes,
        authenticated_data=bytes(authenticated_data),
        data=bytes(data),
        padding=padding_policy(state),
    )


def create_proposal(
    state: GroupState,
    proposal: Proposal,
    *,
    rng: RandomSource,
    now: int,
    authenticated_data: bytes = b"",
    wire_format: WireFormat | None = None,
) -> tuple[bytes, CachedProposal]:
    """Send ``proposal`` by reference: validate it, frame it (as ``wire_format``, default the policy's), cache
    it. ``(MLSMessage bytes, cached)``."""
    check_allowed(state.status, GroupInput.PROPOSE)
    framing = handshake_wire_format(state, wire_format)
    me = Sender.member(state.own_leaf)
    try:
        check_single_proposal(state.tree, proposal, me, proposal_rules(state, now, None, received=False))
        state.proposals.check_room(proposal)
    except MLSError as exc:
        raise InvalidArgument(f"invalid proposal: {exc}") from exc
    data, content = protect(state, proposal, framing, rng=rng, authenticated_data=authenticated_data)
    cached = CachedProposal(proposal, me, make_proposal_ref(state.suite, encode(content)))
    state.proposals.add(cached)
    return data, cached


def make_update(
    state: GroupState,
    *,
    rng: RandomSource,
    credential: Credential | None = None,
    capabilities: Capabilities | None = None,
    leaf_extensions: tuple[Extension, ...] | None = None,
) -> tuple[Proposal, HPKEPrivateKey]:
    """An Update proposal with a fresh encryption key for our leaf (other fields kept unless given), and that
    key's private half (to remember in ``state.own_update_keys`` once the proposal is sent, in case another
    member commits it)."""
    suite = state.suite
    current = state.tree.member_leaf(state.own_leaf)
    key = suite.hpke_generate_key_pair(rng)
    leaf = sign_leaf_node(
        suite,
        state.signer,
        encryption_key=key.public_bytes(),
        credential=current.credential if credential is None else credential,
        capabilities=current.capabilities if capabilities is None else capabilities,
        source=LeafNodeSource.update,
        extensions=current.extensions if leaf_extensions is None else leaf_extensions,
        group_id=state.current.context.group_id,
        leaf_index=state.own_leaf,
    )
    return Proposal(Update(leaf)), key
