"""Test helpers (also used by benchmarks/mls_bench.py): a seeded random source and an in-memory "delivery
service" that keeps several members of one group in step.

::

    net = InMemoryGroup(suite=3, seed=1)
    alice = net.create("alice")
    net.add("alice", "bob", "carol")         # commit, deliver, merge, join from the Welcome
    events = net.send("bob", b"hello")       # {"alice": ApplicationMessage, "carol": ...}
    net.check_agreement()                    # every member: same epoch, authenticator and tree hash

Not for production: the random source is predictable.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from pyxmtp.mls import (
    CipherSuite,
    Credential,
    Extension,
    Group,
    GroupConfig,
    GroupStatus,
    KeyPackage,
    KeyPackageBundle,
    ProcessResult,
    Proposal,
    SignaturePrivateKey,
    StagedCommit,
    create_key_package,
    get_suite,
)


class SeededRandom:
    """A deterministic :data:`~pyxmtp.mls.crypto.keys.RandomSource` (``random.Random(seed).randbytes``)."""

    __slots__ = ("_r",)

    def __init__(self, seed: int | str | bytes = 0) -> None:
        self._r = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self._r.randbytes(n)


class InMemoryGroup:
    """Members of one group, by name, with every message delivered to every other member at once.

    Each member's identity is a basic credential with its name and a signature key from the seeded source.
    ``now`` is the common clock (seconds). ``members`` maps names to :class:`Group` objects.
    """

    def __init__(
        self,
        suite: int = 3,
        *,
        seed: int | str | bytes = 0,
        now: int = 1_700_000_000,
        config: GroupConfig | None = None,
    ) -> None:
        self.suite: CipherSuite = get_suite(suite)
        self.rng = SeededRandom(seed)
        self.now = now
        self.config = config if config is not None else GroupConfig()
        self.members: dict[str, Group] = {}
        self.signers: dict[str, SignaturePrivateKey] = {}
        self.psks: dict[bytes, bytes] = {}
        #: key packages handed out and not used yet: signature key -> (name, bundle)
        self.waiting: dict[bytes, tuple[str, KeyPackageBundle]] = {}

    # --- identities -----------------------------------------------------------------------------------------
    def signer(self, name: str) -> SignaturePrivateKey:
        if name not in self.signers:
            self.signers[name] = self.suite.generate_signature_key(self.rng)
        return self.signers[name]

    def credential(self, name: str) -> Credential:
        return Credential.basic(name.encode())

    def key_package(self, name: str) -> KeyPackageBundle:
        """A fresh key package for ``name``; whoever's commit adds it, ``name`` joins from the Welcome."""
        bundle = create_key_package(
            self.suite, self.signer(name), self.credential(name), rng=self.rng, now=self.now
        )
        self.waiting[bundle.key_package.leaf_node.signature_key] = (name, bundle)
        return bundle

    def __getitem__(self, name: str) -> Group:
        return self.members[name]

    def leaf(self, name: str) -> int:
        return self.members[name].own_leaf_index

    def active(self) -> dict[str, Group]:
        return {n: g for n, g in self.members.items() if g.status is not GroupStatus.INACTIVE}

    # --- group operations -------------------------------------------------------------------------------------
    def create(
        self, name: str, *, group_id: bytes | None = None, extensions: tuple[Extension, ...] = ()
    ) -> Group:
        group = Group.create(
            self.suite,
            self.signer(name),
            self.credential(name),
            rng=self.rng,
            now=self.now,
            config=self.config,
            group_id=group_id,
            extensions=extensions,
        )
        self.members[name] = group
        return group

    def deliver(
        self, sender: str, data: bytes, *, to: Iterable[str] | None = None
    ) -> dict[str, ProcessResult]:
        """Process ``data`` at every active member except ``sender`` (or at ``to``); commits are merged."""
        targets = [n for n in self.active() if n != sender] if to is None else list(to)
        out: dict[str, ProcessResult] = {}
        for name in targets:
            result = self.members[name].process(data, now=self.now, psks=self.psks)
            if isinstance(result, StagedCommit):
                self.members[name].merge_staged_commit(result)
            out[name] = result
        return out

    def commit(
        self,
        committer: str,
        *,
        add: Sequence[KeyPackage] = (),
        remove: Sequence[int] = (),
        proposals: Sequence[Proposal] = (),
        force_path: bool = False,
        by_reference: bool = True,
    ) -> StagedCommit:
        """``committer`` commits (arguments as :meth:`Group.commit`), everyone else processes and merges, the
        committer merges, and the members whose key packages the commit adds (inline or by reference) join
        from the Welcome."""
        group = self.members[committer]
        staged = group.commit(
            rng=self.rng,
            now=self.now,
            psks=self.psks,
            add=add,
            remove=remove,
            proposals=proposals,
            force_path=force_path,
            by_reference=by_reference,
        )
        assert staged.message is not None
        self.deliver(committer, staged.message)
        group.merge_pending_commit()
        for _, kp in staged.added:
            name, bundle = self.waiting.pop(kp.leaf_node.signature_key)
            assert staged.welcome is not None
            self.members[name] = Group.join(
                staged.welcome,
                bundle,
                self.signer(name),
                now=self.now,
                config=self.config,
                ratchet_tree=None if self.config.use_ratchet_tree_extension else group.ratchet_tree(),
                psks=self.psks,
            )
        return staged

    def add(self, committer: str, *names: str, force_path: bool = False) -> StagedCommit:
        """``committer`` adds ``names`` (fresh key packages) in one commit."""
        return self.commit(
            committer, add=[self.key_package(n).key_package for n in names], force_path=force_path
        )

    def remove(self, committer: str, *names: str) -> StagedCommit:
        return self.commit(committer, remove=[self.leaf(n) for n in names])

    def update(self, name: str) -> StagedCommit:
        """A full-path commit with no new proposals by ``name``."""
        return self.commit(name, force_path=True)

    def propose(self, proposer: str, proposal: Proposal) -> bytes:
        data = self.members[proposer].propose(proposal, rng=self.rng, now=self.now)
        self.deliver(proposer, data)
        return data

    def send(
        self, sender: str, data: bytes, *, authenticated_data: bytes = b""
    ) -> Mapping[str, ProcessResult]:
        message = self.members[sender].create_message(
            data, rng=self.rng, authenticated_data=authenticated_data
        )
        return self.deliver(sender, message)

    # --- checks ----------------------------------------------------------------------------------------------
    def check_agreement(self) -> bytes:
        """Every active member is at the same epoch with the same epoch authenticator and tree; returns it."""
        groups = list(self.active().values())
        epochs = {g.epoch for g in groups}
        auths = {g.epoch_authenticator for g in groups}
        trees = {g.group_context.tree_hash for g in groups}
        if len(epochs) != 1 or len(auths) != 1 or len(trees) != 1:
            raise AssertionError(
                f"members disagree: epochs {epochs}, {len(auths)} authenticators, {len(trees)} trees"
            )
        return auths.pop()
