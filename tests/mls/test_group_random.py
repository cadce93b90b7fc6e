"""Seeded random group histories: members of groups of 2, 3 and 50 add, remove and update each other (inline,
and by reference with another member committing), commit with and without a path, send application messages
that arrive in random order, some of them late (after later epochs began), and save and restore their state.

After every commit every member agrees on the epoch, the epoch authenticator, the exporter, the GroupContext
(hence the tree hash) and the member list, and the committer's and every receiver's staged commit announce
that same authenticator before anyone merges. Each application message delivery is checked against a model
of the RFC 9420 9.2 receive window (out-of-order tolerance, past epochs kept): a message the model accepts
must decrypt to what was sent, from the right sender, epoch and generation; one it refuses must fail with
the predicted typed error and leave the receiver's state unchanged.

Both wire-format policies run: everything as PrivateMessage (XMTP) and handshakes as PublicMessages.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from pyxmtp.mls.errors import MissingKeyError, WrongEpochError
from pyxmtp.mls.group import (
    ApplicationMessage,
    Group,
    GroupConfig,
    GroupStatus,
    ProposalReceived,
    StagedCommit,
    WireFormatPolicy,
)
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import Update
from tests.mls.helpers import InMemoryGroup

NOW = 1_700_000_000
TOLERANCE = 5  # out_of_order_tolerance of every member


@dataclass
class Sent:
    """An application message and the receivers that have not seen it yet."""

    sender: str
    leaf: int
    epoch: int
    generation: int
    data: bytes
    authenticated_data: bytes
    message: bytes


@dataclass
class Window:
    """RFC 9420 9.2 as the engine documents it: ``head`` is the next generation of a sender's ratchet,
    ``retained`` the skipped generations whose keys are kept (at most ``TOLERANCE`` behind the head)."""

    head: int = 0
    retained: set[int] = field(default_factory=set)

    def accepts(self, generation: int) -> bool:
        return generation >= self.head or generation in self.retained

    def consume(self, generation: int) -> None:
        if generation >= self.head:
            keep_from = generation + 1 - TOLERANCE
            self.retained = {g for g in self.retained if g >= keep_from}
            self.retained.update(range(max(self.head, keep_from), generation))
            self.head = generation + 1
        else:
            self.retained.remove(generation)


class History:
    """One group's random history (see the module docstring)."""

    def __init__(self, size: int, seed: int, policy: WireFormatPolicy, keep: int) -> None:
        self.rnd = random.Random(seed)
        self.keep = keep
        self.config = GroupConfig(
            wire_format_policy=policy, max_past_epochs=keep, out_of_order_tolerance=TOLERANCE
        )
        self.net = InMemoryGroup(seed=f"random-history-{size}-{seed}-{policy.name}", config=self.config)
        self.lo, self.hi = max(2, size - size // 4), size + max(1, size // 4)
        self.next_name = 0
        self.joined: dict[str, int] = {}  # member -> first epoch it knows
        self.sent_in_epoch: Counter[tuple[str, int]] = Counter()  # (sender, epoch) -> messages sent
        self.windows: dict[tuple[str, int, int], Window] = {}  # (receiver, epoch, sender leaf) -> window
        self.late: list[tuple[Sent, str]] = []  # undelivered (message, receiver)
        self.authenticators: dict[int, bytes] = {}
        self.stats: Counter[str] = Counter()

        creator = self.fresh_name()
        self.net.create(creator)
        self.joined[creator] = 0
        self.check_agreement()
        self.commit(creator, add=[self.fresh_name() for _ in range(size - 1)])

    # --- helpers ------------------------------------------------------------------------------------------------
    def fresh_name(self) -> str:
        self.next_name += 1
        return f"m{self.next_name - 1}"

    def active(self) -> list[str]:
        return sorted(n for n, g in self.net.members.items() if g.status is GroupStatus.OPERATIONAL)

    def epoch(self) -> int:
        return self.net[self.active()[0]].epoch

    def check_agreement(self) -> None:
        groups = [self.net[n] for n in self.active()]
        epoch = groups[0].epoch
        authenticator = groups[0].epoch_authenticator
        context = groups[0].group_context
        exported = groups[0].export_secret("random history", b"%d" % epoch, 32)
        members = [(m.leaf_index, m.signature_key) for m in groups[0].members()]
        for g in groups[1:]:
            assert g.epoch == epoch
            assert g.epoch_authenticator == authenticator
            assert g.group_context == context  # tree hash, confirmed transcript hash, extensions
            assert g.export_secret("random history", b"%d" % epoch, 32) == exported
            assert [(m.leaf_index, m.signature_key) for m in g.members()] == members
        assert len(members) == len(groups)
        assert epoch not in self.authenticators and (epoch == 0 or epoch - 1 in self.authenticators)
        assert authenticator not in self.authenticators.values()
        self.authenticators[epoch] = authenticator

    # --- commits ------------------------------------------------------------------------------------------------
    def commit(
        self,
        committer: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        force_path: bool = False,
        expect_path: bool | None = None,
    ) -> StagedCommit:
        """``committer`` commits the cached proposals plus ``add`` / ``remove``; everyone processes it, checks
        what it announces, merges; the new members join from the Welcome; everyone must agree."""
        net = self.net
        group = net[committer]
        kps: list[KeyPackage] = [net.key_package(n).key_package for n in add]
        staged = group.commit(
            rng=net.rng,
            now=NOW,
            add=kps,
            remove=[net.leaf(n) for n in remove],
            force_path=force_path,
        )
        assert staged.message is not None and staged.own
        if expect_path is not None:
            assert staged.has_path is expect_path
        announced = staged.epoch_authenticator
        assert announced is not None
        removed = {i for i, _ in staged.removed}
        for name in self.active():
            if name == committer:
                continue
            result = net[name].process(staged.message, now=NOW)
            assert isinstance(result, StagedCommit) and not result.own
            assert result.has_path is staged.has_path
            assert [i for i, _ in result.added] == [i for i, _ in staged.added]
            if net.leaf(name) in removed:
                assert result.self_removed and result.epoch_authenticator is None
            else:
                assert result.epoch_authenticator == announced
            net[name].merge_staged_commit(result)
        group.merge_pending_commit()
        epoch = group.epoch
        for _, kp in staged.added:
            name, bundle = net.waiting.pop(kp.leaf_node.signature_key)
            assert staged.welcome is not None
            net.members[name] = Group.join(
                staged.welcome,
                bundle,
                net.signer(name),
                now=NOW,
                config=self.config,
                ratchet_tree=None if self.rnd.random() < 0.7 else group.ratchet_tree(),
            )
            self.joined[name] = epoch
        gone = set(self.net.members) - set(self.active())
        self.late = [(sent, r) for sent, r in self.late if r not in gone]
        self.check_agreement()
        self.stats["commit with path" if staged.has_path else "commit without path"] += 1
        return staged

    def op_add(self) -> None:
        room = self.hi - len(self.active())
        if room <= 0:
            return self.op_remove()
        path = self.rnd.random() < 0.5
        self.commit(
            self.rnd.choice(self.active()),
            add=[self.fresh_name() for _ in range(self.rnd.randint(1, min(3, room)))],
            force_path=path,
            expect_path=path,
        )
        self.stats["add"] += 1

    def op_remove(self) -> None:
        members = self.active()
        spare = len(members) - self.lo
        if spare <= 0:
            return self.op_add()
        committer = self.rnd.choice(members)
        others = [n for n in members if n != committer]
        self.commit(
            committer, remove=self.rnd.sample(others, self.rnd.randint(1, min(2, spare))), expect_path=True
        )
        self.stats["remove"] += 1

    def op_self_update(self) -> None:
        """A commit with no proposals: always a full path (a self-update)."""
        member = self.rnd.choice(self.active())
        before = self.net[member].member(self.net.leaf(member))
        self.commit(member, expect_path=True)
        after = self.net[member].member(self.net.leaf(member))
        assert before is not None and after is not None
        assert after.encryption_key != before.encryption_key
        self.stats["self-update"] += 1

    def op_proposals(self) -> None:
        """Proposals by reference (update, remove, add) from random members, committed by another member."""
        net, rnd = self.net, self.rnd
        members = self.active()
        updaters: set[str] = set()
        targets: set[str] = set()
        proposed_keys: dict[str, bytes] = {}
        n_members = len(members)
        for _ in range(rnd.randint(1, 3)):
            proposer = rnd.choice([n for n in members if n not in targets])
            kind = rnd.choice(("update", "remove", "add"))
            if kind == "update" and proposer not in updaters:
                data = net[proposer].propose_update(rng=net.rng, now=NOW)
                updaters.add(proposer)
            elif kind == "remove" and n_members > self.lo:
                candidates = [n for n in members if n not in targets | updaters | {proposer}]
                if not candidates:
                    continue
                target = rnd.choice(candidates)
                data = net[proposer].propose_remove(net.leaf(target), rng=net.rng, now=NOW)
                targets.add(target)
                n_members -= 1
            elif kind == "add" and n_members < self.hi:
                data = net[proposer].propose_add(
                    net.key_package(self.fresh_name()).key_package, rng=net.rng, now=NOW
                )
                n_members += 1
            else:
                continue
            for name in members:
                if name != proposer:
                    event = net[name].process(data, now=NOW)
                    assert isinstance(event, ProposalReceived) and event.sender.index == net.leaf(proposer)
            self.stats[f"proposal {kind}"] += 1
        committers = [n for n in members if n not in updaters | targets]
        if not net[members[0]].pending_proposals or not committers:
            for name in members:  # nothing to commit after all: forget the proposals
                net[name].state.proposals.clear()
            return
        for name in updaters:
            proposed = net[name].pending_proposals
            proposed_keys[name] = next(
                p.proposal.body.leaf_node.encryption_key
                for p in proposed
                if p.sender.index == net.leaf(name) and isinstance(p.proposal.body, Update)
            )
        self.commit(rnd.choice(committers), force_path=rnd.random() < 0.5)
        for name, key in proposed_keys.items():  # another member committed our Update
            member = net[name].member(net.leaf(name))
            assert member is not None and member.encryption_key == key
        self.stats["commit by reference"] += 1

    # --- application messages -----------------------------------------------------------------------------------
    def op_messages(self) -> None:
        """A burst of at most TOLERANCE messages from one member; each receiver gets them now (in random order)
        or later (after other messages, or after later epochs began)."""
        net, rnd = self.net, self.rnd
        sender = rnd.choice(self.active())
        epoch = net[sender].epoch
        burst = []
        for _ in range(rnd.randint(1, TOLERANCE)):
            generation = self.sent_in_epoch[sender, epoch]
            self.sent_in_epoch[sender, epoch] += 1
            data = rnd.randbytes(rnd.choice((0, 1, 17, 300)))
            ad = rnd.randbytes(rnd.choice((0, 0, 5)))
            message = net[sender].create_message(data, rng=net.rng, authenticated_data=ad)
            burst.append(Sent(sender, net.leaf(sender), epoch, generation, data, ad, message))
        for receiver in self.active():
            if receiver == sender:
                continue
            if rnd.random() < 0.3:
                self.late.extend((sent, receiver) for sent in burst)
            else:
                for sent in rnd.sample(burst, len(burst)):
                    self.deliver(sent, receiver)

    def op_deliver_late(self) -> None:
        if not self.late:
            return
        self.rnd.shuffle(self.late)
        count = self.rnd.randint(1, len(self.late))
        due, self.late = self.late[:count], self.late[count:]
        for sent, receiver in due:
            self.deliver(sent, receiver)

    def deliver(self, sent: Sent, receiver: str) -> None:
        """Process ``sent`` at ``receiver`` and check the outcome against the window model."""
        group = self.net[receiver]
        current = group.epoch
        known = max(self.joined[receiver], current - self.keep) <= sent.epoch <= current
        window = self.windows.setdefault((receiver, sent.epoch, sent.leaf), Window())
        if known and window.accepts(sent.generation):
            event = group.process(sent.message, now=NOW)
            assert isinstance(event, ApplicationMessage)
            assert (event.sender, event.epoch, event.generation) == (sent.leaf, sent.epoch, sent.generation)
            assert (event.data, event.authenticated_data) == (sent.data, sent.authenticated_data)
            window.consume(sent.generation)
            self.stats["late message read" if sent.epoch < current else "message read"] += 1
            return
        before = group.to_bytes()
        with pytest.raises(MissingKeyError if known else WrongEpochError):
            group.process(sent.message, now=NOW)
        assert group.to_bytes() == before
        self.stats["message refused (key deleted)" if known else "message refused (epoch gone)"] += 1

    # --- persistence --------------------------------------------------------------------------------------------
    def op_round_trip(self) -> None:
        """A member saves its state and continues from the restored copy."""
        name = self.rnd.choice(self.active())
        data = self.net[name].to_bytes()
        restored = Group.from_bytes(data)
        assert restored.to_bytes() == data
        assert restored.epoch_authenticator == self.net[name].epoch_authenticator
        self.net.members[name] = restored
        self.stats["round trip"] += 1

    # --- driver -------------------------------------------------------------------------------------------------
    def run(self, steps: int) -> Counter[str]:
        ops = (
            (self.op_messages, 6),
            (self.op_deliver_late, 4),
            (self.op_add, 2),
            (self.op_remove, 2),
            (self.op_self_update, 2),
            (self.op_proposals, 3),
            (self.op_round_trip, 2),
        )
        functions = [f for f, _ in ops]
        weights = [w for _, w in ops]
        for _ in range(steps):
            self.rnd.choices(functions, weights)[0]()
        for sent, receiver in self.late:  # whatever is still in flight arrives at last
            self.deliver(sent, receiver)
        self.late = []
        return self.stats


POLICIES = {
    "xmtp-ciphertext": (WireFormatPolicy.PURE_CIPHERTEXT, 3),
    "public-handshakes": (WireFormatPolicy.PURE_PLAINTEXT, 1),
}


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize(("size", "seed"), [(2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)])
def test_small_groups_random_history(size: int, seed: int, policy: str) -> None:
    wire_format, keep = POLICIES[policy]
    history = History(size, seed, wire_format, keep)
    stats = history.run(150)
    for op in ("message read", "commit with path", "add", "remove", "round trip"):
        assert stats[op] > 0, (op, stats)
    assert len(history.authenticators) == history.epoch() + 1


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fifty_members_random_history(seed: int, policy: str) -> None:
    wire_format, keep = POLICIES[policy]
    history = History(50, seed, wire_format, keep)
    stats = history.run(30)
    assert stats["message read"] > 0 and stats["commit with path"] + stats["commit without path"] > 1, stats
    assert len(history.active()) >= 38


def test_histories_cover_every_operation_and_outcome() -> None:
    """The small histories, together, exercise every kind of operation and every delivery outcome (so the
    checks above are not vacuous)."""
    total: Counter[str] = Counter()
    for seed in (1, 2, 3):
        for policy, (wire_format, keep) in POLICIES.items():
            del policy
            total += History(3, seed, wire_format, keep).run(70)
    for op in (
        "message read",
        "late message read",
        "message refused (key deleted)",
        "message refused (epoch gone)",
        "commit with path",
        "commit without path",
        "commit by reference",
        "self-update",
        "proposal update",
        "proposal remove",
        "proposal add",
        "round trip",
    ):
        assert total[op] > 0, (op, total)
