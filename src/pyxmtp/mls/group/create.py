"""Creating a one-member group (RFC 9420 section 11).

The creator's leaf is a key_package-source leaf (as OpenMLS makes it); the epoch-0 key schedule starts from a
random ``init_secret`` with a zero commit secret and no PSK; the confirmed transcript hash is empty and the
interim transcript hash covers the epoch-0 confirmation tag.
"""

from __future__ import annotations

from ..codec import encode
from ..constants import LeafNodeSource, ProtocolVersion
from ..crypto.keys import RandomSource, SignaturePrivateKey
from ..crypto.suite import CipherSuite
from ..errors import MLSError
from ..key_packages import DEFAULT_LIFETIME, LIFETIME_MARGIN, default_capabilities, sign_leaf_node
from ..key_schedule import advance_epoch, zero_secret
from ..messages.credential import Credential
from ..messages.extensions import Extension, RequiredCapabilities, get_extension
from ..messages.group_info import GroupContext
from ..transcript import confirmation_tag, interim_transcript_hash
from ..tree.leaf_validation import LeafRules, check_leaf_content
from ..tree.nodes import Capabilities, Lifetime
from ..tree.private import TreePrivateState
from ..tree.ratchet_tree import RatchetTree
from .config import GroupConfig
from .epoch import Epoch
from .errors import InvalidArgument
from .proposals import check_group_context_extensions
from .state import GroupState
from .transitions import GroupStatus


def create_group(
    suite: CipherSuite,
    signer: SignaturePrivateKey,
    credential: Credential,
    *,
    rng: RandomSource,
    now: int,
    config: GroupConfig,
    group_id: bytes | None = None,
    extensions: tuple[Extension, ...] = (),
    capabilities: Capabilities | None = None,
    leaf_extensions: tuple[Extension, ...] = (),
    lifetime: Lifetime | None = None,
) -> GroupState:
    """A new group at epoch 0 with us as its only member (leaf 0). ``group_id`` defaults to 16 random bytes;
    ``extensions`` are the GroupContext extensions (e.g. required_capabilities, external_senders)."""
    if signer.algorithm != suite.signature_scheme:
        raise InvalidArgument(
            f"signer is a {signer.algorithm} key; suite 0x{suite.id:04x} needs {suite.signature_scheme}"
        )
    try:
        check_group_context_extensions(extensions, None)
    except MLSError as exc:
        raise InvalidArgument(f"group context extensions: {exc}") from exc
    if group_id is None:
        group_id = rng(16)
    if capabilities is None:
        types = [e.extension_type for e in extensions] + [e.extension_type for e in leaf_extensions]
        capabilities = default_capabilities(suite, credential, types)
    if lifetime is None:
        lifetime = Lifetime(max(0, now - LIFETIME_MARGIN), now + DEFAULT_LIFETIME)
    encryption_key = suite.hpke_generate_key_pair(rng)
    leaf = sign_leaf_node(
        suite,
        signer,
        encryption_key=encryption_key.public_bytes(),
        credential=credential,
        capabilities=capabilities,
        source=LeafNodeSource.key_package,
        lifetime=lifetime,
        extensions=leaf_extensions,
    )
    rules = LeafRules(group_id, ProtocolVersion.mls10, get_extension(extensions, RequiredCapabilities))
    try:
        check_leaf_content(suite, leaf, rules, 0, None)
    except MLSError as exc:
        raise InvalidArgument(f"our own leaf does not fit the group: {exc}") from exc
    tree = RatchetTree.create(suite, leaf)
    context = GroupContext(ProtocolVersion.mls10, suite.id, group_id, 0, tree.tree_hash(), b"", extensions)
    context_bytes = encode(context)
    schedule = advance_epoch(suite, rng(suite.hash_len), zero_secret(suite), context_bytes)
    tag = confirmation_tag(suite, schedule.secrets.confirmation_key, b"")
    state = GroupState(suite, group_id, config, GroupStatus.OPERATIONAL, 0, signer, tree, None)
    state.epoch = Epoch.start(
        suite,
        context,
        TreePrivateState(suite, 0, encryption_key),
        schedule.secrets,
        tree.n_leaves,
        interim_transcript_hash(suite, b"", tag),
        tag,
        state.ratchet_config(),
        context_bytes,
    )
    state.resumption_psks[0] = schedule.secrets.resumption_psk
    return state
