"""psk_secret.json: the chained PSK secret over a list of external PSKs (RFC 9420 section 8.4)."""

from __future__ import annotations

from ..crypto import get_suite
from ..messages.proposals import ExternalPSK, PreSharedKeyID
from ..psk import psk_secret
from . import Case, expect


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    psks = [
        (
            PreSharedKeyID(ExternalPSK(bytes.fromhex(p["psk_id"])), bytes.fromhex(p["psk_nonce"])),
            bytes.fromhex(p["psk"]),
        )
        for p in case["psks"]
    ]
    expect("psk_secret", psk_secret(suite, psks), bytes.fromhex(case["psk_secret"]))
