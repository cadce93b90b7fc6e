"""Welcomes and GroupInfos (RFC 9420 sections 12.4.3 and 12.4.3.1): building them for the members a commit
adds, exporting a GroupInfo, and joining a group from a Welcome.

Joining checks, in order: the Welcome is for our key package's cipher suite and has an entry for it (else
:class:`~pyxmtp.mls.errors.MissingKeyError`); the GroupSecrets and GroupInfo decrypt; PSKs resolve; the
GroupInfo's confirmation tag matches the derived key schedule (all in
:func:`~pyxmtp.mls.welcome_crypto.open_welcome`); no extension type appears twice in the GroupInfo or its
GroupContext (RFC 9420 13.4); a ratchet tree is available (the ``ratchet_tree`` extension
or one supplied out of band); the tree is valid for the group (:func:`~pyxmtp.mls.tree.validation.
validate_tree_for_group`: tree hash, parent hashes, every leaf, the key_package leaves' lifetimes only if the
configuration checks received lifetimes); the GroupInfo signature verifies under the
signer's leaf; our key package's leaf is in the tree; the path secret (if any) derives the tree's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..codec import decode, encode
from ..constants import ProtocolVersion
from ..crypto.keys import RandomSource, SignaturePrivateKey
from ..crypto.suite import CipherSuite, get_suite
from ..framing.messages import MLSMessage
from ..key_packages import KeyPackageBundle
from ..messages.extensions import Extension, ExternalPub, get_extension
from ..messages.group_info import GroupContext, GroupInfo
from ..messages.key_package import KeyPackage
from ..messages.proposals import ExternalPSK, PreSharedKeyID
from ..messages.welcome import GroupSecrets, Welcome
from ..transcript import interim_transcript_hash
from ..tree.nodes import Node, RatchetTreeExtension
from ..tree.ratchet_tree import RatchetTree
from ..tree.treekem import private_state_from_path_secret
from ..tree.validation import validate_tree_for_group
from ..welcome_crypto import build_welcome, open_welcome, sign_group_info, verify_group_info
from .config import GroupConfig
from .epoch import Epoch
from .errors import InvalidArgument, WelcomeError
from .state import GroupState
from .transitions import GroupStatus

TreeInput = RatchetTree | Sequence[Node | None] | bytes
"""A ratchet tree supplied out of band: a tree, its node list, or ``optional<Node> ratchet_tree<V>`` bytes."""


def group_info_extensions(
    tree_nodes: Sequence[Node | None] | None, external_pub: bytes | None
) -> tuple[Extension, ...]:
    """GroupInfo extensions: ``ratchet_tree`` (when ``tree_nodes`` is given) and ``external_pub``."""
    out: list[Extension] = []
    if tree_nodes is not None:
        out.append(RatchetTreeExtension(tuple(tree_nodes)).to_extension())
    if external_pub is not None:
        out.append(ExternalPub(external_pub).to_extension())
    return tuple(out)


def build_welcome_message(
    suite: CipherSuite,
    signer: SignaturePrivateKey,
    signer_leaf: int,
    context: GroupContext,
    confirmation_tag: bytes,
    *,
    joiner_secret: bytes,
    welcome_secret: bytes,
    added: Sequence[tuple[int, KeyPackage]],
    psk_ids: Sequence[PreSharedKeyID],
    path_secret_for: Callable[[int], bytes] | None,
    tree_nodes: Sequence[Node | None] | None,
    rng: RandomSource,
) -> bytes:
    """The Welcome MLSMessage for the members a commit adds. ``path_secret_for(leaf)`` gives each joiner's
    path secret when the commit has a path; ``tree_nodes`` goes into the GroupInfo's ratchet_tree extension."""
    group_info = sign_group_info(
        suite, signer, context, group_info_extensions(tree_nodes, None), confirmation_tag, signer_leaf
    )
    recipients = [
        (
            kp,
            GroupSecrets(
                joiner_secret, None if path_secret_for is None else path_secret_for(i), tuple(psk_ids)
            ),
        )
        for i, kp in added
    ]
    return encode(MLSMessage(build_welcome(suite, welcome_secret, group_info, recipients, rng)))


def epoch_group_info(
    state: GroupState, epoch: Epoch, tree: RatchetTree, *, with_ratchet_tree: bool, with_external_pub: bool
) -> GroupInfo:
    """A GroupInfo for ``epoch`` (whose ratchet tree is ``tree``), signed by us (RFC 9420 12.4.3)."""
    suite = state.suite
    extensions = group_info_extensions(
        tree.to_nodes() if with_ratchet_tree else None,
        epoch.secrets.external_pub(suite) if with_external_pub else None,
    )
    return sign_group_info(
        suite, state.signer, epoch.context, extensions, epoch.confirmation_tag, epoch.private.leaf_index
    )


def export_group_info(state: GroupState, *, with_ratchet_tree: bool, with_external_pub: bool) -> GroupInfo:
    """A GroupInfo for the current epoch, signed by us."""
    return epoch_group_info(
        state,
        state.current,
        state.tree,
        with_ratchet_tree=with_ratchet_tree,
        with_external_pub=with_external_pub,
    )


def tree_from_input(suite: CipherSuite, tree: TreeInput) -> RatchetTree:
    """An out-of-band ratchet tree as a fresh :class:`RatchetTree` (a given tree is copied)."""
    if isinstance(tree, RatchetTree):
        return tree.copy()
    if isinstance(tree, bytes):
        return RatchetTree.from_bytes(suite, tree)
    return RatchetTree.from_nodes(suite, list(tree))


def group_tree(suite: CipherSuite, group_info: GroupInfo, supplied: TreeInput | None) -> RatchetTree:
    """The GroupInfo's ratchet_tree extension, else the supplied tree; :class:`WelcomeError` if neither."""
    ext = get_extension(group_info.extensions, RatchetTreeExtension)
    if ext is not None:
        return RatchetTree.from_nodes(suite, list(ext.nodes))
    if supplied is None:
        raise WelcomeError(
            "no ratchet tree: the GroupInfo has no ratchet_tree extension and none was supplied"
        )
    return tree_from_input(suite, supplied)


def check_group_info_extensions(group_info: GroupInfo) -> None:
    """No extension type appears twice in the GroupInfo's extensions or in its GroupContext's (RFC 9420 13.4):
    a second copy would let two members read the group differently. :class:`WelcomeError` otherwise."""
    for extensions, where in (
        (group_info.extensions, "GroupInfo"),
        (group_info.group_context.extensions, "GroupContext"),
    ):
        seen: set[int] = set()
        for ext in extensions:
            t = ext.extension_type
            if t in seen:
                raise WelcomeError(f"the {where} has extension type 0x{t:04x} twice (RFC 9420 13.4)")
            seen.add(t)


def verify_group_info_signer(suite: CipherSuite, tree: RatchetTree, group_info: GroupInfo) -> None:
    """The GroupInfo signature verifies under the signature key of its ``signer`` leaf."""
    signer = group_info.signer
    leaf = tree.leaf(signer) if signer < tree.n_leaves else None
    if leaf is None:
        raise WelcomeError(f"GroupInfo signer {signer} is not a member of the tree")
    verify_group_info(suite, leaf.signature_key, group_info)


def parse_welcome(welcome: bytes | Welcome) -> Welcome:
    """A Welcome, from itself or from MLSMessage bytes."""
    if isinstance(welcome, Welcome):
        return welcome
    body = decode(MLSMessage, welcome).body
    if not isinstance(body, Welcome):
        raise WelcomeError(f"expected a Welcome MLSMessage, got a {type(body).__name__}")
    return body


def join_from_welcome(
    welcome: bytes | Welcome,
    key_package: KeyPackageBundle,
    signer: SignaturePrivateKey,
    *,
    now: int,
    config: GroupConfig,
    ratchet_tree: TreeInput | None = None,
    psks: Mapping[bytes, bytes] | None = None,
) -> tuple[GroupState, int]:
    """Join from a Welcome with our key package bundle (see the module docstring for the checks): the group's
    state and the leaf index of the member who signed the GroupInfo (who added us). ``psks``: the external
    PSKs (psk_id -> secret) the Welcome may name. ``now`` is the time the tree's key_package leaves are held
    to, if ``config.check_received_lifetimes``."""
    kp = key_package.key_package
    if signer.public_bytes() != kp.leaf_node.signature_key:
        raise InvalidArgument("the signer is not the key package's signature key")
    welcome = parse_welcome(welcome)
    suite = get_suite(kp.cipher_suite)
    if welcome.cipher_suite != suite.id:
        raise WelcomeError(
            f"Welcome is for cipher suite 0x{welcome.cipher_suite:04x}, our key package is 0x{suite.id:04x}"
        )

    def lookup(psk_id: PreSharedKeyID) -> bytes | None:
        psk = psk_id.psk
        if isinstance(psk, ExternalPSK) and psks is not None:
            return psks.get(psk.psk_id)
        return None  # resumption PSKs of a group we are not in yet are not available

    opened = open_welcome(suite, welcome, key_package.reference(), key_package.init_private_key, lookup)
    group_info = opened.group_info
    context = group_info.group_context
    if context.version != ProtocolVersion.mls10:
        raise WelcomeError(f"GroupInfo protocol version {context.version} is not mls10")
    check_group_info_extensions(group_info)
    tree = group_tree(suite, group_info, ratchet_tree)
    validate_tree_for_group(
        tree,
        context,
        now=now if config.check_received_lifetimes else None,
        max_lifetime_range=config.max_lifetime_range,
    )
    verify_group_info_signer(suite, tree, group_info)
    own = tree.find_leaf(kp.leaf_node)
    if own is None:
        raise WelcomeError("our key package's leaf is not in the ratchet tree")
    private = private_state_from_path_secret(
        tree, own, key_package.encryption_private_key, group_info.signer, opened.group_secrets.path_secret
    )
    state = GroupState(suite, context.group_id, config, GroupStatus.OPERATIONAL, own, signer, tree, None)
    state.epoch = Epoch.start(
        suite,
        context,
        private,
        opened.epoch_secrets,
        tree.n_leaves,
        interim_transcript_hash(suite, context.confirmed_transcript_hash, group_info.confirmation_tag),
        group_info.confirmation_tag,
        state.ratchet_config(),
    )
    state.resumption_psks[context.epoch] = opened.epoch_secrets.resumption_psk
    return state, group_info.signer
