"""passive-client-*.json: a member that only receives (test-vectors.md "Passive Client").

Each case: join with the given key package and its private keys (``init_priv``, ``encryption_priv``,
``signature_priv``), the external PSKs and the Welcome (the ratchet tree in the GroupInfo or given as
``ratchet_tree``); compare ``initial_epoch_authenticator``; then for each epoch process its proposals (cached
by reference), process its commit, merge it and compare ``epoch_authenticator``.

The group accepts both wire formats (the vectors use PublicMessages for handshakes). The vector format defines
no clock (a case may span key packages made at different times, each valid only from its own ``not_before``),
so the runner checks no key-package lifetime: ``check_received_lifetimes`` is off and ``now`` is unused.
"""

from __future__ import annotations

from ..codec import decode
from ..crypto import get_suite
from ..framing.messages import MLSMessage
from ..group import Group, GroupConfig, StagedCommit, WireFormatPolicy
from ..key_packages import KeyPackageBundle
from ..messages.key_package import KeyPackage
from . import Case, VectorMismatch, expect

CONFIG = GroupConfig(wire_format_policy=WireFormatPolicy.MIXED_PLAINTEXT, check_received_lifetimes=False)
_NO_CLOCK = 0  # what ``now`` would check is switched off in CONFIG


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _scalar(value: str, length: int) -> bytes:
    """A private key as the suite's fixed-length big-endian scalar: some vectors drop leading zero bytes of
    P-521 scalars (65 bytes instead of 66)."""
    raw = _h(value)
    return raw.rjust(length, b"\x00") if len(raw) < length else raw


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    kp = decode(MLSMessage, _h(case["key_package"])).body
    if not isinstance(kp, KeyPackage):
        raise VectorMismatch("key_package is not a KeyPackage MLSMessage")
    bundle = KeyPackageBundle(
        kp,
        suite.hpke_private_key_from_bytes(_scalar(case["init_priv"], suite.hpke_private_key_len)),
        suite.hpke_private_key_from_bytes(_scalar(case["encryption_priv"], suite.hpke_private_key_len)),
    )
    signer = suite.signature_key_from_bytes(_h(case["signature_priv"]))
    psks = {_h(p["psk_id"]): _h(p["psk"]) for p in case["external_psks"]}
    tree = case.get("ratchet_tree")
    now = _NO_CLOCK
    group = Group.join(
        _h(case["welcome"]),
        bundle,
        signer,
        now=now,
        config=CONFIG,
        ratchet_tree=None if tree is None else _h(tree),
        psks=psks,
    )
    expect("initial_epoch_authenticator", group.epoch_authenticator, _h(case["initial_epoch_authenticator"]))
    for n, epoch in enumerate(case["epochs"]):
        for proposal in epoch["proposals"]:
            group.process(_h(proposal), now=now, psks=psks)
        staged = group.process(_h(epoch["commit"]), now=now, psks=psks)
        if not isinstance(staged, StagedCommit):
            raise VectorMismatch(f"epoch {n}: the commit gave a {type(staged).__name__}")
        group.merge_staged_commit(staged)
        expect(
            f"epochs[{n}].epoch_authenticator", group.epoch_authenticator, _h(epoch["epoch_authenticator"])
        )
