"""XMTP's checks on an incoming commit, before it is merged (protocol reference, section 6.5), sans-IO.

MLS (RFC 9420) decides whether a commit is well formed; XMTP decides whether it is *allowed*. libxmtp
(``groups/validated_commit.rs`` and ``group_permissions.rs``) applies these rules to every commit it receives,
and a client that skips them follows commits the rest of the group refuses, and forks. :func:`validate_commit`
applies them to a :class:`~pyxmtp.mls.group.StagedCommit` and raises :class:`CommitValidationError`, whose
``rule`` (a :class:`Rule`) names the rule broken; it returns a :class:`ValidatedCommit`, what the commit did in
XMTP's terms. It reads nothing and writes nothing: the identity states it needs come from the caller's
``states_for`` (which may raise the caller's own "fetch the identity logs first" exception; it is not caught).

The rules, by the spec's numbers:

1. a member's ``sequence_id`` in the new GroupMembership only increases (:attr:`Rule.SEQUENCE_ID`);
2. the expected installation diff: for each inbox whose sequence id changed, the installations of its
   association state at the old sequence id against those at the new one (an old sequence id 0, the creator's
   placeholder, counts as "nothing yet", as libxmtp does); a new inbox from nothing; a removed inbox to nothing;
3. the commit's adds and removes match it: every added installation is expected or already a member
   (:attr:`Rule.UNEXPECTED_ADD`); the removed installations are exactly the expected removals minus the failed
   installations (:attr:`Rule.REMOVALS`); an expected installation may be missing (the spec: "expected adds may
   be missing (failed installations)"; libxmtp does not check that a missing one is listed as failed, so
   refusing such a commit would fork us from libxmtp members; a joiner's welcome is held to completeness
   instead, see :func:`~.membership.check_leaves_belong`);
4. the committer's leaf and every leaf an Update proposal sets are installations of their credential's inbox at
   the new membership's sequence id (:attr:`Rule.INSTALLATION`); so is every added leaf
   (:attr:`Rule.ADDED_LEAF`);
5. every proposal comes from a member (:attr:`Rule.SENDER`); adding and removing an inbox is judged against
   the member who proposed it, metadata, admin and permission changes against the committer;
6. no PreSharedKey proposals (:attr:`Rule.PSK`);
7. the new values of changed metadata fields stay within libxmtp's byte limits (:attr:`Rule.METADATA_LENGTH`):
   ``group_name`` 100, ``description`` 1000, ``group_image_url_square`` 2048, ``app_data`` 8192;
8. the group's PolicySet (the one in force *before* the commit) allows everything the commit does, as
   libxmtp's ``PolicySet::evaluate_commit``: add / remove member policies per inbox (:attr:`Rule.ADD_MEMBER`,
   :attr:`Rule.REMOVE_MEMBER`), a super admin is never removed (:attr:`Rule.REMOVE_SUPER_ADMIN`), the other
   DM member can always be added to a DM, each changed metadata field by its policy, unknown fields admin-only
   or super-admin-only when the name starts with ``_`` (:attr:`Rule.METADATA`), admin list changes by
   ``add_admin_policy`` / ``remove_admin_policy`` (:attr:`Rule.ADD_ADMIN`, :attr:`Rule.REMOVE_ADMIN`),
   super-admin list and permission changes by a super admin only (:attr:`Rule.SUPER_ADMINS`,
   :attr:`Rule.PERMISSIONS`), and the last super admin cannot be removed (:attr:`Rule.LAST_SUPER_ADMIN`).

And the immutable metadata (0xF000) never changes (:attr:`Rule.IMMUTABLE_METADATA`; libxmtp's OpenMLS fork
enforces this for its ``ImmutableMetadata`` extension). A commit that changes none of XMTP's extensions (a
self update, a key rotation) passes as long as its committer is who its credential says.

Where the spec is silent, this module decides as a careful client would (each decision is marked
"Decision" below and in the function docstrings):

- Admin roles are those of the group *before* the commit (as libxmtp: a commit cannot grant its own rights).
- A commit must come from a member (no external commits: XMTP's legacy flow has none), and a commit with a
  ReInit is refused (:attr:`Rule.REINIT`): XMTP never sends one, and it would end the group.
- A leaf may not change the inbox its credential names, in the committer's path or in an Update
  (:attr:`Rule.CREDENTIAL_CHANGE`; libxmtp refuses this for Update proposals, we also do it for the path).
- Every added leaf must name an inbox of the new membership and be one of that inbox's installations (rule 3
  compares installation keys only; without this a key could be added under another inbox's name).
- Failed installations: the new membership's ``failed_installations``, plus those of the old membership that
  have no leaf (a removed inbox takes its entry away; libxmtp's current code does the same).
- A super admin may re-add an installation (remove its leaf and add a new key package for it in one commit,
  or list it as failed), as libxmtp allows for fork recovery.
- The PolicySet must be well formed (all six policies present, every ``and_condition`` / ``any_condition``
  non-empty, every base value known); a malformed one fails every commit (:attr:`Rule.POLICY_SET`), as
  libxmtp fails to parse it. A commit may not install a malformed one either.
- ``update_permissions_policy`` is not consulted: like libxmtp, any permission change needs a super admin.
- Metadata limits apply only to fields the commit changes, and count UTF-8 bytes (libxmtp's ``str::len``).
- Rule 9 (``minimum_supported_protocol_version`` above our own version pauses the group) is the caller's: it
  is not an invalid commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.constants import SenderType
from pyxmtp.mls.group import StagedCommit
from pyxmtp.mls.messages.extensions import Extension, find_extension
from pyxmtp.mls.messages.proposals import Add, GroupContextExtensions, PreSharedKey, ReInit, Remove, Update
from pyxmtp.mls.tree.nodes import LeafNode
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

from .credential import CredentialError, parse_credential
from .group_context import ConversationContext, MutableMetadata, parse_group_context
from .key_packages import IMMUTABLE_METADATA
from .membership import Installation, StatesFor
from .permissions import (
    Actor,
    CommitValidationError,
    Rule,
    check_metadata_policy,
    check_policy_set,
    evaluate_policy,
)

__all__ = ["Actor", "CommitValidationError", "Rule", "ValidatedCommit", "evaluate_policy", "validate_commit"]

#: libxmtp's metadata length limits (``groups/mod.rs``), in UTF-8 bytes.
METADATA_LIMITS: Mapping[str, int] = {
    "group_name": 100,
    "description": 1000,
    "group_image_url_square": 2048,
    "app_data": 8192,
}


@dataclass(frozen=True, slots=True)
class ValidatedCommit:
    """What an accepted commit does, in XMTP's terms (what a "group updated" message would report)."""

    #: the conversation context after the commit
    context: ConversationContext
    #: the committer's leaf after the commit (its path leaf if it has one)
    committer: Installation
    added_inboxes: tuple[str, ...]
    removed_inboxes: tuple[str, ...]
    #: the names of the metadata attributes whose value changed (set, changed or deleted)
    metadata_changes: tuple[str, ...]
    admins_added: tuple[str, ...]
    admins_removed: tuple[str, ...]
    super_admins_added: tuple[str, ...]
    super_admins_removed: tuple[str, ...]
    permissions_changed: bool
    #: installations a super admin removed and added back (or listed as failed) in this commit
    readded_installations: frozenset[bytes]


def validate_commit(
    old_extensions: Sequence[Extension],
    staged: StagedCommit,
    old_leaves: Sequence[Installation],
    states_for: StatesFor,
) -> ValidatedCommit:
    """Check an incoming commit against XMTP's rules (module docstring) before merging it.

    ``old_extensions`` are the group-context extensions of the epoch the commit is for (``group.extensions``),
    ``old_leaves`` the group's leaves in that epoch (``Conversation.installations()``), ``staged`` what
    ``Group.process`` returned for the commit. ``states_for`` is called at most twice: once with the new
    sequence ids of the inboxes whose installations the checks need (changed and new inboxes, the committer's,
    those of updated and added leaves), once with the old sequence ids of changed (non-zero) and removed inboxes.

    Raises :class:`CommitValidationError` naming the rule broken, a
    :class:`~pyxmtp.conversations.group_context.GroupContextError` if the new extensions do not parse, or
    whatever ``states_for`` raises.
    """
    old = parse_group_context(old_extensions)
    new = old if staged.extensions is None else parse_group_context(staged.extensions)
    leaves = {leaf.leaf_index: leaf for leaf in old_leaves}

    committer_leaf, actor = _committer(staged, leaves, old.mutable)
    _check_proposals(staged, leaves)
    if staged.extensions is not None:
        _check_immutable(old_extensions, staged.extensions)
    check_policy_set(old.permissions, "the group's")
    permissions_changed = new.permissions != old.permissions
    if permissions_changed:
        check_policy_set(new.permissions, "the new")

    attribute_changes = _attribute_changes(old.mutable.attributes, new.mutable.attributes)
    _check_lengths(attribute_changes, new.mutable.attributes)

    old_members, new_members = old.membership.members, new.membership.members
    for inbox_id, old_seq in old_members.items():
        new_seq = new_members.get(inbox_id)
        if new_seq is not None and new_seq < old_seq:
            raise CommitValidationError(
                Rule.SEQUENCE_ID, f"inbox {inbox_id}'s sequence id went down from {old_seq} to {new_seq}"
            )
    added_inboxes = tuple(i for i in new_members if i not in old_members)
    removed_inboxes = tuple(i for i in old_members if i not in new_members)
    updated_inboxes = tuple(i for i in new_members if i in old_members and new_members[i] != old_members[i])

    # --- the identity states the checks need (two look-ups at most) ----------------------------------------
    added_leaves = [_leaf_installation(index, kp.leaf_node, "added") for index, kp in staged.added]
    updated_leaves = [_leaf_installation(index, leaf, "updated") for index, leaf in staged.updated]
    checked_leaves = [committer_leaf, *updated_leaves]
    wanted_new = {i: new_members[i] for i in (*added_inboxes, *updated_inboxes)}
    for leaf in (*checked_leaves, *added_leaves):
        if leaf.inbox_id in new_members:
            wanted_new[leaf.inbox_id] = new_members[leaf.inbox_id]
    wanted_old = {i: old_members[i] for i in updated_inboxes if old_members[i] != 0}
    wanted_old.update({i: old_members[i] for i in removed_inboxes})
    new_states = _states(states_for, wanted_new)
    old_states = _states(states_for, wanted_old)

    # --- rules 2 and 3: the expected installation diff against the commit's adds and removes ---------------
    expected_added: set[bytes] = set()
    expected_removed: set[bytes] = set()
    for inbox_id in (*added_inboxes, *updated_inboxes):
        after = set(new_states[inbox_id].installations())
        before = set(old_states[inbox_id].installations()) if inbox_id in old_states else set()
        expected_added |= after - before
        expected_removed |= before - after
    for inbox_id in removed_inboxes:
        expected_removed |= set(old_states[inbox_id].installations())

    existing = {leaf.installation_key for leaf in old_leaves}
    added = {leaf.installation_key for leaf in added_leaves}
    removed = {leaf.signature_key for _, leaf in staged.removed}
    failed = set(new.membership.failed_installations)
    failed |= set(old.membership.failed_installations) - existing
    readded = _extract_readded(actor, added, removed, failed)

    unexpected = added - expected_added - existing
    if unexpected:
        raise CommitValidationError(
            Rule.UNEXPECTED_ADD,
            f"installations {_hex(unexpected)} are added but not expected by the membership",
        )
    must_remove = expected_removed - failed
    if removed != must_remove:
        extra, kept = removed - must_remove, must_remove - removed
        raise CommitValidationError(
            Rule.REMOVALS,
            f"the commit removes {_hex(extra) or 'nothing'} it should not, and keeps {_hex(kept) or 'nothing'} "
            "it should remove",
        )

    # --- rule 4 (and every added leaf): leaves are installations of their inbox at the new sequence id ----
    for leaf in added_leaves:
        _check_belongs(leaf, new_members, new_states, Rule.ADDED_LEAF)
    for leaf in checked_leaves:
        _check_belongs(leaf, new_members, new_states, Rule.INSTALLATION)

    # --- rule 8: the policy set in force before the commit -------------------------------------------------
    policies = old.permissions.policies
    proposers = _proposers(staged, leaves, old.mutable, actor)
    _check_membership_policies(
        policies, added_inboxes, removed_inboxes, proposers, actor, old.mutable, old.metadata.dm_members
    )
    for name in attribute_changes:
        check_metadata_policy(policies, name, actor)
    admins_added = _added(old.mutable.admins, new.mutable.admins)
    admins_removed = _added(new.mutable.admins, old.mutable.admins)
    supers_added = _added(old.mutable.super_admins, new.mutable.super_admins)
    supers_removed = _added(new.mutable.super_admins, old.mutable.super_admins)
    if admins_added and not evaluate_policy(policies.add_admin_policy, actor):
        raise CommitValidationError(
            Rule.ADD_ADMIN, f"{actor.inbox_id} may not add admins ({', '.join(admins_added)})"
        )
    if admins_removed and not evaluate_policy(policies.remove_admin_policy, actor):
        raise CommitValidationError(
            Rule.REMOVE_ADMIN, f"{actor.inbox_id} may not remove admins ({', '.join(admins_removed)})"
        )
    if (supers_added or supers_removed) and not actor.is_super_admin:
        raise CommitValidationError(
            Rule.SUPER_ADMINS,
            f"{actor.inbox_id} is not a super admin and may not change the super-admin list",
        )
    if supers_removed and not new.mutable.super_admins:
        raise CommitValidationError(Rule.LAST_SUPER_ADMIN, "the commit removes the last super admin")
    if permissions_changed and not actor.is_super_admin:
        raise CommitValidationError(
            Rule.PERMISSIONS, f"{actor.inbox_id} is not a super admin and may not change the permissions"
        )

    return ValidatedCommit(
        context=new,
        committer=committer_leaf,
        added_inboxes=added_inboxes,
        removed_inboxes=removed_inboxes,
        metadata_changes=tuple(attribute_changes),
        admins_added=admins_added,
        admins_removed=admins_removed,
        super_admins_added=supers_added,
        super_admins_removed=supers_removed,
        permissions_changed=permissions_changed,
        readded_installations=frozenset(readded),
    )


# --- who did it ----------------------------------------------------------------------------------------------
def _actor(inbox_id: str, mutable: MutableMetadata) -> Actor:
    return Actor(inbox_id, inbox_id in mutable.admins, inbox_id in mutable.super_admins)


def _leaf_installation(index: int, leaf: LeafNode, what: str) -> Installation:
    try:
        inbox_id = parse_credential(leaf.credential)
    except CredentialError as exc:
        raise CommitValidationError(
            Rule.ADDED_LEAF if what == "added" else Rule.CREDENTIAL_CHANGE,
            f"the {what} leaf {index} has no XMTP credential: {exc}",
        ) from exc
    return Installation(index, inbox_id, leaf.signature_key)


def _committer(
    staged: StagedCommit, leaves: Mapping[int, Installation], mutable: MutableMetadata
) -> tuple[Installation, Actor]:
    """The committer's leaf as the commit leaves it (its path leaf, else its current leaf) and its roles.

    Decision: only members commit (XMTP's legacy groups have no external commits), and the path may not
    change the inbox the committer's credential names."""
    if staged.sender.sender_type is not SenderType.member:
        raise CommitValidationError(
            Rule.SENDER, f"a commit from a {staged.sender.sender_type.name} sender (only members commit)"
        )
    old_leaf = leaves.get(staged.sender.index)
    if old_leaf is None:
        raise CommitValidationError(
            Rule.SENDER, f"the committer's leaf {staged.sender.index} is not a member"
        )
    leaf = old_leaf
    if staged.path_leaf is not None:
        leaf = _leaf_installation(old_leaf.leaf_index, staged.path_leaf, "committer's path")
        if leaf.inbox_id != old_leaf.inbox_id:
            raise CommitValidationError(
                Rule.CREDENTIAL_CHANGE,
                f"the committer's path changes its leaf's inbox from {old_leaf.inbox_id} to {leaf.inbox_id}",
            )
    return leaf, _actor(old_leaf.inbox_id, mutable)


def _check_proposals(staged: StagedCommit, leaves: Mapping[int, Installation]) -> None:
    """Rule 5 (members only), rule 6 (no PSK), and the ReInit and Update decisions."""
    if staged.psk_ids:
        raise CommitValidationError(Rule.PSK, "XMTP groups use no pre-shared keys")
    if staged.reinit is not None:
        raise CommitValidationError(Rule.REINIT, "XMTP groups are never re-initialised")
    for cached in staged.proposals:
        sender = cached.sender
        if sender.sender_type is not SenderType.member or sender.index not in leaves:
            raise CommitValidationError(
                Rule.SENDER, f"a {type(cached.proposal.body).__name__} proposal from a non-member"
            )
        body = cached.proposal.body
        if isinstance(body, PreSharedKey):
            raise CommitValidationError(Rule.PSK, "XMTP groups use no pre-shared keys")
        if isinstance(body, ReInit):
            raise CommitValidationError(Rule.REINIT, "XMTP groups are never re-initialised")
        if isinstance(body, Update):
            new_leaf = _leaf_installation(sender.index, body.leaf_node, "updated")
            if new_leaf.inbox_id != leaves[sender.index].inbox_id:
                raise CommitValidationError(
                    Rule.CREDENTIAL_CHANGE,
                    f"an Update changes leaf {sender.index}'s inbox from {leaves[sender.index].inbox_id} "
                    f"to {new_leaf.inbox_id}",
                )


@dataclass(frozen=True, slots=True)
class _Proposers:
    """Who proposed each inbox change, as libxmtp attributes them: the member who proposed an Add of the
    inbox's key package (a Remove of its leaf), else the member who proposed the GroupContextExtensions that
    changed the membership, else the committer (inline proposals are the committer's)."""

    adds: Mapping[str, Actor]
    removes: Mapping[str, Actor]
    default: Actor

    def of_add(self, inbox_id: str) -> Actor:
        return self.adds.get(inbox_id, self.default)

    def of_remove(self, inbox_id: str) -> Actor:
        return self.removes.get(inbox_id, self.default)


def _proposers(
    staged: StagedCommit, leaves: Mapping[int, Installation], mutable: MutableMetadata, committer: Actor
) -> _Proposers:
    adds: dict[str, Actor] = {}
    removes: dict[str, Actor] = {}
    gce: Actor | None = None
    for cached in staged.proposals:
        body = cached.proposal.body
        proposer = _actor(leaves[cached.sender.index].inbox_id, mutable)
        if isinstance(body, Add):
            adds[_leaf_installation(0, body.key_package.leaf_node, "added").inbox_id] = proposer
        elif isinstance(body, Remove):
            removed = leaves.get(body.removed)
            if removed is not None:
                removes[removed.inbox_id] = proposer
        elif isinstance(body, GroupContextExtensions):
            gce = proposer
    return _Proposers(adds, removes, gce or committer)


# --- context changes -----------------------------------------------------------------------------------------
def _check_immutable(old: Sequence[Extension], new: Sequence[Extension]) -> None:
    before, after = find_extension(old, IMMUTABLE_METADATA), find_extension(new, IMMUTABLE_METADATA)
    if before is None or after is None or before.extension_data != after.extension_data:
        raise CommitValidationError(
            Rule.IMMUTABLE_METADATA, "the commit changes the immutable metadata (0xF000)"
        )


def _attribute_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    return sorted(name for name in {*old, *new} if old.get(name) != new.get(name))


def _check_lengths(changed: Iterable[str], attributes: Mapping[str, str]) -> None:
    for name in changed:
        limit = METADATA_LIMITS.get(name)
        value = attributes.get(name)
        if limit is not None and value is not None and len(value.encode()) > limit:
            raise CommitValidationError(
                Rule.METADATA_LENGTH, f"{name} is {len(value.encode())} bytes, more than {limit}"
            )


def _added(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    return tuple(i for i in new if i not in old)


def _extract_readded(actor: Actor, added: set[bytes], removed: set[bytes], failed: set[bytes]) -> set[bytes]:
    """Decision (libxmtp's fork recovery): a super admin may remove an installation's leaf and add it back in
    the same commit, or remove it and list it as failed; those installations leave the diff check (the sets
    are changed in place) and are returned."""
    if not actor.is_super_admin:
        return set()
    done = added & removed
    added -= done
    removed -= done
    attempted = failed & removed
    failed -= attempted
    removed -= attempted
    return done | attempted


def _states(states_for: StatesFor, wanted: Mapping[str, int]) -> Mapping[str, AssociationState]:
    if not wanted:
        return {}
    states = states_for(wanted)
    for inbox_id in wanted:
        if inbox_id not in states:
            raise CommitValidationError(Rule.INSTALLATION, f"no identity state for inbox {inbox_id}")
    return states


def _check_belongs(
    leaf: Installation, members: Mapping[str, int], states: Mapping[str, AssociationState], rule: Rule
) -> None:
    if leaf.inbox_id not in members:
        raise CommitValidationError(
            rule, f"leaf {leaf.leaf_index} names inbox {leaf.inbox_id}, not a member after the commit"
        )
    if leaf.installation_key not in states[leaf.inbox_id].installations():
        raise CommitValidationError(
            rule,
            f"leaf {leaf.leaf_index}: {leaf.installation_key.hex()} is not an installation of inbox "
            f"{leaf.inbox_id} at sequence id {members[leaf.inbox_id]}",
        )


def _hex(keys: Iterable[bytes]) -> str:
    return ", ".join(sorted(k.hex() for k in keys))


def _check_membership_policies(
    policies: group_permissions_pb2.PolicySet,
    added: Sequence[str],
    removed: Sequence[str],
    proposers: _Proposers,
    committer: Actor,
    mutable: MutableMetadata,
    dm_members: tuple[str, str] | None,
) -> None:
    # the other DM member can always be added to a DM (libxmtp: exactly one inbox added, not the committer)
    dm_readd = (
        dm_members is not None
        and len(added) == 1
        and added[0] in dm_members
        and added[0] != committer.inbox_id
    )
    if not dm_readd:
        for inbox_id in added:
            proposer = proposers.of_add(inbox_id)
            if not evaluate_policy(policies.add_member_policy, proposer):
                raise CommitValidationError(
                    Rule.ADD_MEMBER, f"{proposer.inbox_id} may not add members (adding {inbox_id})"
                )
    for inbox_id in removed:
        if inbox_id in mutable.super_admins:
            raise CommitValidationError(Rule.REMOVE_SUPER_ADMIN, f"super admin {inbox_id} cannot be removed")
        proposer = proposers.of_remove(inbox_id)
        if not evaluate_policy(policies.remove_member_policy, proposer):
            raise CommitValidationError(
                Rule.REMOVE_MEMBER, f"{proposer.inbox_id} may not remove members (removing {inbox_id})"
            )
