"""An MLS group with pyxmtp's RFC 9420 core alone (no XMTP, no network): the public API of ``pyxmtp.mls``.

    python examples/mls_group.py

Alice creates a group and adds Bob; they exchange messages; Bob proposes Carol, Alice commits the proposal and
Carol joins; Carol removes Bob. Each step prints what it did. The "delivery service" is this script: it hands
each message to the members that should see it, in order. Every member checks that the others agree on the
epoch (its authenticator and an exported secret) after each change.
"""

from __future__ import annotations

import os
import time

from pyxmtp.mls import (
    INTEROP_CONFIG,
    ApplicationMessage,
    Credential,
    Group,
    KeyPackageBundle,
    ProposalReceived,
    SignaturePrivateKey,
    StagedCommit,
    WireFormat,
    create_key_package,
    get_suite,
    key_package_for_welcome,
)

SUITE = get_suite(3)  # MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
rng = os.urandom


def now() -> int:
    return int(time.time())


class Person:
    """Someone with a signature key, a credential and the key packages they published."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.signer: SignaturePrivateKey = SUITE.generate_signature_key(rng)
        self.credential = Credential.basic(name.encode())
        self.key_packages: list[KeyPackageBundle] = []
        self.group: Group | None = None

    def publish_key_package(self) -> bytes:
        """A fresh key package; the private half is kept (as bytes, as a client would store it)."""
        bundle = create_key_package(SUITE, self.signer, self.credential, rng=rng, now=now())
        self.key_packages.append(KeyPackageBundle.from_bytes(bundle.to_bytes()))
        return bundle.key_package_message()

    def join(self, welcome: bytes, ratchet_tree: bytes | None = None) -> None:
        bundle = key_package_for_welcome(welcome, self.key_packages)
        assert bundle is not None, f"the Welcome is not for any of {self.name}'s key packages"
        self.group = Group.join(
            welcome, bundle, self.signer, now=now(), config=INTEROP_CONFIG, ratchet_tree=ratchet_tree
        )
        self.key_packages.remove(bundle)  # used once: delete it
        print(f"{self.name}: joined at epoch {self.group.epoch} as leaf {self.group.own_leaf_index}")

    @property
    def g(self) -> Group:
        assert self.group is not None
        return self.group

    def receive(self, message: bytes) -> None:
        """Process one message from the group; a commit is merged at once (it was accepted by the service)."""
        result = self.g.process(message, now=now())
        if isinstance(result, ApplicationMessage):
            sender = self.g.member(result.sender)
            who = "?" if sender is None else sender.credential.identity.decode()
            print(f"{self.name}: {who} says {result.data.decode()!r}")
        elif isinstance(result, ProposalReceived):
            print(f"{self.name}: proposal {type(result.proposal.body).__name__} cached")
        elif isinstance(result, StagedCommit):
            self.g.merge_staged_commit(result)
            if result.self_removed:
                print(f"{self.name}: removed; the last epoch I was in is {self.g.epoch}")
            else:
                print(f"{self.name}: now at epoch {self.g.epoch}")


def agree(*people: Person) -> None:
    """Everyone is in the same epoch: same number, epoch authenticator and exported secret."""
    views = {(p.g.epoch, p.g.epoch_authenticator, p.g.export_secret("example", b"", 32)) for p in people}
    assert len(views) == 1, f"the members disagree: {views}"
    print(f"   ({', '.join(p.name for p in people)} agree on epoch {people[0].g.epoch})")


def main() -> None:
    alice, bob, carol = Person("alice"), Person("bob"), Person("carol")

    # Alice creates the group and adds Bob; this Welcome does not carry the ratchet tree, so Bob gets it
    # out of band (export_ratchet_tree of the new epoch).
    alice.group = Group.create(
        SUITE, alice.signer, alice.credential, rng=rng, now=now(), config=INTEROP_CONFIG
    )
    print(f"alice: created group {alice.g.group_id.hex()[:16]}...")
    commit = alice.g.commit(
        add=[bob.publish_key_package()], rng=rng, now=now(), ratchet_tree_in_welcome=False
    )
    alice.g.merge_pending_commit()  # the delivery service accepted commit.message
    assert commit.welcome is not None
    bob.join(commit.welcome, ratchet_tree=alice.g.export_ratchet_tree())
    agree(alice, bob)

    bob.receive(alice.g.create_message(b"hello Bob", rng=rng))
    alice.receive(bob.g.create_message(b"hello Alice", rng=rng))

    # Bob proposes Carol (as a PublicMessage, for this proposal only); Alice commits it by reference.
    proposal = bob.g.propose_add(
        carol.publish_key_package(), rng=rng, now=now(), wire_format=WireFormat.public_message
    )
    alice.receive(proposal)
    commit = alice.g.commit(rng=rng, now=now())
    alice.g.merge_pending_commit()
    assert commit.message is not None and commit.welcome is not None
    bob.receive(commit.message)
    carol.join(commit.welcome)  # this Welcome carries the tree (the configuration's default)
    agree(alice, bob, carol)

    # A member's state survives a round trip through bytes (store them encrypted: they hold secrets).
    bob.group = Group.from_bytes(bob.g.to_bytes())
    for reader in (alice, bob):
        reader.receive(carol.g.create_message(b"hi both", rng=rng))

    # Carol removes Bob. Bob processes the commit too: his group becomes inactive but still answers.
    bob_leaf = next(m.leaf_index for m in carol.g.members() if m.credential.identity == b"bob")
    last_authenticator = bob.g.epoch_authenticator
    commit = carol.g.commit(remove=[bob_leaf], rng=rng, now=now())
    carol.g.merge_pending_commit()
    assert commit.message is not None
    alice.receive(commit.message)
    bob.receive(commit.message)
    assert not bob.g.is_active and bob.g.epoch_authenticator == last_authenticator
    agree(alice, carol)
    alice.receive(carol.g.create_message(b"Bob has left", rng=rng))
    print("done:", ", ".join(m.credential.identity.decode() for m in alice.g.members()), "remain")


if __name__ == "__main__":
    main()
