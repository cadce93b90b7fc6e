"""The MLS client behind the interop server: the states the test-runner names by number, and one method per
call of the MLSClient service (bytes in, bytes out; the gRPC layer is :mod:`.server`).

Written against the public API of :mod:`pyxmtp.mls` (plus two GroupInfo readers for ``ExternalJoin``). Each
member state keeps its group, the wire format its handshakes use (``encrypt_handshake``), the external PSKs
installed in it, and the proposal messages of the current epoch it already knows (its own, and those it
processed): the test-runner hands every member the proposals a commit covers, including the member's own,
and a proposal is processed once.

Numbers: states and transactions (key packages waiting for their Welcome) share one counter, so
``StorePSK``'s ``state_or_transaction_id`` names exactly one. A transaction is consumed by the join that uses
it (its private keys are deleted). At most ``max_entries`` states and transactions are held at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pyxmtp.mls import (
    INTEROP_CONFIG,
    SUPPORTED_SUITES,
    Add,
    ApplicationMessage,
    Credential,
    Extension,
    Group,
    GroupContextExtensions,
    KeyPackageBundle,
    Proposal,
    ProposalReceived,
    RandomSource,
    Remove,
    SignaturePrivateKey,
    StagedCommit,
    WireFormat,
    create_key_package,
    get_suite,
    parse_key_package_bytes,
)
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.group.external import parse_group_info
from pyxmtp.mls.group.welcome import group_tree


class InteropError(Exception):
    """A call the server cannot answer; :attr:`kind` says which gRPC status fits."""

    kind = "invalid"


class UnknownId(InteropError):
    """No state or transaction has that number (never made, freed, or consumed by a join)."""

    kind = "not_found"


class InvalidRequest(InteropError):
    """The request names something that does not exist or is malformed (an unknown identity, proposal type)."""


class Unsupported(InteropError):
    """A feature this server does not implement."""

    kind = "unimplemented"


class TooManyEntries(InteropError):
    """The server already holds ``max_entries`` states and transactions."""

    kind = "exhausted"


@dataclass(frozen=True, slots=True)
class NewKeyPackage:
    transaction_id: int
    key_package: bytes
    init_priv: bytes
    encryption_priv: bytes
    signature_priv: bytes


@dataclass(frozen=True, slots=True)
class ProposalSpec:
    """A proposal to commit by value (``ProposalDescription``): ``proposal_type`` is "add", "remove",
    "externalPSK", "resumptionPSK" or "groupContextExtensions"."""

    proposal_type: str
    key_package: bytes = b""
    removed_id: bytes = b""
    psk_id: bytes = b""
    epoch_id: int = 0
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True)
class CommitResult:
    commit: bytes
    welcome: bytes
    ratchet_tree: bytes


@dataclass(slots=True, eq=False)
class _Member:
    group: Group
    wire_format: WireFormat
    psks: dict[bytes, bytes] = field(default_factory=dict)
    known_proposals: set[bytes] = field(default_factory=set)

    def merge(self, staged: StagedCommit) -> None:
        self.group.merge_staged_commit(staged)
        self.known_proposals.clear()


@dataclass(slots=True, eq=False)
class _Transaction:
    bundle: KeyPackageBundle
    signer: SignaturePrivateKey
    psks: dict[bytes, bytes] = field(default_factory=dict)


def _wire_format(encrypt_handshake: bool) -> WireFormat:
    return WireFormat.private_message if encrypt_handshake else WireFormat.public_message


def _suite_id(cipher_suite: int) -> int:
    if cipher_suite not in SUPPORTED_SUITES:
        raise InvalidRequest(f"cipher suite {cipher_suite} is not supported (supported: {SUPPORTED_SUITES})")
    return cipher_suite


def _leaf_of(group: Group, identity: bytes) -> int:
    leaves = [m.leaf_index for m in group.members() if m.credential.identity == identity]
    if len(leaves) != 1:
        raise InvalidRequest(f"{len(leaves)} members have the identity {identity!r}, expected one")
    return leaves[0]


class InteropClient:
    """The MLS client the interop server exposes (see the module docstring). ``rng`` and ``clock`` (Unix
    seconds) are the randomness and time given to the MLS core."""

    name = "pyxmtp"

    def __init__(
        self,
        *,
        rng: RandomSource = os.urandom,
        clock: Callable[[], float] = time.time,
        max_entries: int = 10_000,
    ) -> None:
        self._rng = rng
        self._clock = clock
        self._max_entries = max_entries
        self._next_id = 1
        self._states: dict[int, _Member] = {}
        self._transactions: dict[int, _Transaction] = {}

    # --- bookkeeping ----------------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self._clock())

    def _new_id(self) -> int:
        if len(self._states) + len(self._transactions) >= self._max_entries:
            raise TooManyEntries(f"the server holds {self._max_entries} states and transactions; free some")
        number = self._next_id
        self._next_id += 1
        return number

    def _add_state(self, member: _Member) -> int:
        number = self._new_id()
        self._states[number] = member
        return number

    def _member(self, state_id: int) -> _Member:
        member = self._states.get(state_id)
        if member is None:
            raise UnknownId(f"no state {state_id}")
        return member

    def _take_transaction(self, transaction_id: int) -> _Transaction:
        transaction = self._transactions.get(transaction_id)
        if transaction is None:
            raise UnknownId(f"no transaction {transaction_id} (or it was used to join already)")
        return transaction

    @property
    def held(self) -> int:
        """How many states and transactions the server holds."""
        return len(self._states) + len(self._transactions)

    # --- about ----------------------------------------------------------------------------------------------
    @staticmethod
    def supported_ciphersuites() -> list[int]:
        return list(SUPPORTED_SUITES)

    # --- becoming a member ----------------------------------------------------------------------------------
    def create_group(
        self, group_id: bytes, cipher_suite: int, encrypt_handshake: bool, identity: bytes
    ) -> int:
        suite = get_suite(_suite_id(cipher_suite))
        number = self._new_id()
        group = Group.create(
            suite,
            suite.generate_signature_key(self._rng),
            Credential.basic(identity),
            rng=self._rng,
            now=self._now(),
            config=INTEROP_CONFIG,
            group_id=group_id,
        )
        self._states[number] = _Member(group, _wire_format(encrypt_handshake))
        return number

    def create_key_package(self, cipher_suite: int, identity: bytes) -> NewKeyPackage:
        suite = get_suite(_suite_id(cipher_suite))
        number = self._new_id()
        signer = suite.generate_signature_key(self._rng)
        bundle = create_key_package(suite, signer, Credential.basic(identity), rng=self._rng, now=self._now())
        self._transactions[number] = _Transaction(bundle, signer)
        return NewKeyPackage(
            number,
            bundle.key_package_message(),
            bundle.init_private_key.to_bytes(),
            bundle.encryption_private_key.to_bytes(),
            signer.to_bytes(),
        )

    def join_group(
        self, transaction_id: int, welcome: bytes, encrypt_handshake: bool, ratchet_tree: bytes = b""
    ) -> tuple[int, bytes]:
        transaction = self._take_transaction(transaction_id)
        group = Group.join(
            welcome,
            transaction.bundle,
            transaction.signer,
            now=self._now(),
            config=INTEROP_CONFIG,
            ratchet_tree=ratchet_tree or None,
            psks=transaction.psks,
        )
        number = self._add_state(_Member(group, _wire_format(encrypt_handshake), dict(transaction.psks)))
        del self._transactions[transaction_id]
        return number, group.epoch_authenticator

    def external_join(
        self,
        group_info: bytes,
        ratchet_tree: bytes,
        encrypt_handshake: bool,
        identity: bytes,
        *,
        remove_prior: bool = False,
        psks: Sequence[tuple[bytes, bytes]] = (),
    ) -> tuple[int, bytes, bytes]:
        """Join by external commit (merged at once: the test-runner delivers it to every member)."""
        try:
            info = parse_group_info(group_info)
            suite = get_suite(_suite_id(info.group_context.cipher_suite))
            remove_leaf = None
            if remove_prior:
                tree = group_tree(suite, info, ratchet_tree or None)
                prior = [i for i, leaf in tree.members() if leaf.credential.identity == identity]
                if len(prior) != 1:
                    raise InvalidRequest(f"remove_prior: {len(prior)} leaves have the identity {identity!r}")
                remove_leaf = prior[0]
        except MLSError as exc:
            raise InvalidRequest(f"unusable GroupInfo: {exc}") from exc
        secrets = dict(psks)
        number = self._new_id()
        group, commit = Group.join_by_external_commit(
            group_info,
            suite.generate_signature_key(self._rng),
            Credential.basic(identity),
            rng=self._rng,
            now=self._now(),
            config=INTEROP_CONFIG,
            ratchet_tree=ratchet_tree or None,
            remove_leaf=remove_leaf,
            psk_ids=[psk_id for psk_id, _ in psks],
            psks=secrets,
        )
        group.merge_pending_commit()
        self._states[number] = _Member(group, _wire_format(encrypt_handshake), secrets)
        return number, commit, group.epoch_authenticator

    # --- using a state --------------------------------------------------------------------------------------
    def group_info(self, state_id: int, external_tree: bool) -> tuple[bytes, bytes]:
        group = self._member(state_id).group
        info = group.group_info(with_ratchet_tree=not external_tree, with_external_pub=True)
        return info, group.export_ratchet_tree() if external_tree else b""

    def state_auth(self, state_id: int) -> bytes:
        return self._member(state_id).group.epoch_authenticator

    def export(self, state_id: int, label: str, context: bytes, key_length: int) -> bytes:
        return self._member(state_id).group.export_secret(label, context, key_length)

    def protect(self, state_id: int, authenticated_data: bytes, plaintext: bytes) -> bytes:
        group = self._member(state_id).group
        return group.create_message(plaintext, rng=self._rng, authenticated_data=authenticated_data)

    def unprotect(self, state_id: int, ciphertext: bytes) -> tuple[bytes, bytes]:
        member = self._member(state_id)
        result = member.group.process(ciphertext, now=self._now(), psks=member.psks)
        if not isinstance(result, ApplicationMessage):
            raise InvalidRequest(f"Unprotect got a {type(result).__name__}, not an application message")
        return result.authenticated_data, result.data

    def store_psk(self, state_or_transaction_id: int, psk_id: bytes, psk_secret: bytes) -> None:
        holder = self._states.get(state_or_transaction_id) or self._transactions.get(state_or_transaction_id)
        if holder is None:
            raise UnknownId(f"no state or transaction {state_or_transaction_id}")
        holder.psks[psk_id] = psk_secret

    def free(self, state_id: int) -> None:
        """Forget a state (or an unused transaction); freeing an unknown number is not an error."""
        self._states.pop(state_id, None)
        self._transactions.pop(state_id, None)

    # --- proposals ------------------------------------------------------------------------------------------
    def _sent(self, member: _Member, message: bytes) -> bytes:
        member.known_proposals.add(message)
        return message

    def add_proposal(self, state_id: int, key_package: bytes) -> bytes:
        m = self._member(state_id)
        return self._sent(
            m, m.group.propose_add(key_package, rng=self._rng, now=self._now(), wire_format=m.wire_format)
        )

    def update_proposal(self, state_id: int) -> bytes:
        m = self._member(state_id)
        return self._sent(
            m, m.group.propose_update(rng=self._rng, now=self._now(), wire_format=m.wire_format)
        )

    def remove_proposal(self, state_id: int, removed_id: bytes) -> bytes:
        m = self._member(state_id)
        leaf = _leaf_of(m.group, removed_id)
        return self._sent(
            m, m.group.propose_remove(leaf, rng=self._rng, now=self._now(), wire_format=m.wire_format)
        )

    def external_psk_proposal(self, state_id: int, psk_id: bytes) -> bytes:
        m = self._member(state_id)
        return self._sent(
            m, m.group.propose_external_psk(psk_id, rng=self._rng, now=self._now(), wire_format=m.wire_format)
        )

    def resumption_psk_proposal(self, state_id: int, epoch_id: int) -> bytes:
        m = self._member(state_id)
        return self._sent(
            m,
            m.group.propose_resumption_psk(
                epoch_id, rng=self._rng, now=self._now(), wire_format=m.wire_format
            ),
        )

    def group_context_extensions_proposal(self, state_id: int, extensions: Iterable[Extension]) -> bytes:
        m = self._member(state_id)
        return self._sent(
            m,
            m.group.propose_group_context_extensions(
                tuple(extensions), rng=self._rng, now=self._now(), wire_format=m.wire_format
            ),
        )

    # --- commits --------------------------------------------------------------------------------------------
    def _receive_proposals(self, member: _Member, proposals: Iterable[bytes]) -> None:
        """Process the proposals a commit covers that this member does not know yet."""
        for message in proposals:
            if message in member.known_proposals:
                continue
            result = member.group.process(message, now=self._now(), psks=member.psks)
            if not isinstance(result, ProposalReceived):
                raise InvalidRequest(f"a by-reference 'proposal' is a {type(result).__name__}")
            member.known_proposals.add(message)

    def _inline(self, group: Group, spec: ProposalSpec) -> Proposal:
        kind = spec.proposal_type
        if kind == "add":
            return Proposal(Add(parse_key_package_bytes(spec.key_package)))
        if kind == "remove":
            return Proposal(Remove(_leaf_of(group, spec.removed_id)))
        if kind == "externalPSK":
            return group.external_psk_proposal(spec.psk_id, rng=self._rng)
        if kind == "resumptionPSK":
            return group.resumption_psk_proposal(spec.epoch_id, rng=self._rng)
        if kind == "groupContextExtensions":
            return Proposal(GroupContextExtensions(tuple(spec.extensions)))
        if kind == "reinit":
            raise Unsupported("ReInit proposals are not supported by this server")
        raise InvalidRequest(f"unknown proposal type {kind!r}")

    def commit(
        self,
        state_id: int,
        by_reference: Sequence[bytes] = (),
        by_value: Sequence[ProposalSpec] = (),
        *,
        force_path: bool = False,
        external_tree: bool = False,
    ) -> CommitResult:
        """Our commit of every cached proposal (``by_reference`` ones included, processed first if another
        member sent them) and the ``by_value`` ones, in order; pending until :meth:`handle_pending_commit`."""
        m = self._member(state_id)
        self._receive_proposals(m, by_reference)
        staged = m.group.commit(
            rng=self._rng,
            now=self._now(),
            proposals=[self._inline(m.group, spec) for spec in by_value],
            force_path=force_path,
            psks=m.psks,
            wire_format=m.wire_format,
            ratchet_tree_in_welcome=not external_tree,
        )
        assert staged.message is not None
        tree = m.group.export_ratchet_tree(staged) if external_tree else b""
        return CommitResult(staged.message, staged.welcome or b"", tree)

    def handle_commit(self, state_id: int, proposals: Sequence[bytes], commit: bytes) -> tuple[int, bytes]:
        m = self._member(state_id)
        self._receive_proposals(m, proposals)
        staged = m.group.process(commit, now=self._now(), psks=m.psks)
        if not isinstance(staged, StagedCommit):
            raise InvalidRequest(f"HandleCommit got a {type(staged).__name__}, not a commit")
        m.merge(staged)
        return state_id, m.group.epoch_authenticator

    def handle_pending_commit(self, state_id: int) -> tuple[int, bytes]:
        m = self._member(state_id)
        pending = m.group.pending_commit
        if pending is None:
            raise InvalidRequest(f"state {state_id} has no pending commit")
        m.merge(pending)
        return state_id, m.group.epoch_authenticator
