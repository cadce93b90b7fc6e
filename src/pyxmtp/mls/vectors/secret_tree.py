"""secret-tree.json: sender-data key/nonce and every leaf's handshake and application keys and nonces at the
listed generations (RFC 9420 sections 6.3.2 and 9; test-vectors.md "Secret Tree").

Each leaf is read three ways, which must agree with the vector: a receiving tree asked for the listed
generations in order (exercising jumps forward through the ratchet), a sending tree stepping with
``next_key`` up to each generation, and a receiving tree restored from ``to_bytes`` between reads.
"""

from __future__ import annotations

from ..crypto import get_suite
from ..framing.sender_data import sender_data_key_nonce
from ..tree.secret_tree import RatchetType, SecretTree
from . import Case, expect


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    sd = case["sender_data"]
    key, nonce = sender_data_key_nonce(suite, _h(sd["sender_data_secret"]), _h(sd["ciphertext"]))
    expect("sender_data.key", key, _h(sd["key"]))
    expect("sender_data.nonce", nonce, _h(sd["nonce"]))

    leaves = case["leaves"]
    secret = _h(case["encryption_secret"])
    n_leaves = len(leaves)
    receiver = SecretTree(suite, secret, n_leaves)
    sender = SecretTree(suite, secret, n_leaves)
    for leaf, generations in enumerate(leaves):
        for entry in generations:
            g = entry["generation"]
            for rtype, name in (
                (RatchetType.handshake, "handshake"),
                (RatchetType.application, "application"),
            ):
                want_key, want_nonce = _h(entry[f"{name}_key"]), _h(entry[f"{name}_nonce"])
                where = f"leaf {leaf} generation {g} {name}"
                key, nonce = receiver.consume(leaf, rtype, g)
                expect(f"{where} key", key, want_key)
                expect(f"{where} nonce", nonce, want_nonce)
                while True:
                    sg, key, nonce = sender.next_key(leaf, rtype)
                    if sg == g:
                        break
                expect(f"{where} key (sender)", key, want_key)
                expect(f"{where} nonce (sender)", nonce, want_nonce)
            receiver = SecretTree.from_bytes(receiver.to_bytes())
