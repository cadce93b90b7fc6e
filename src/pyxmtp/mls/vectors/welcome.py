"""welcome.json: a joiner decrypts the Welcome with its KeyPackage's init key, decrypts and verifies the
GroupInfo (signature under ``signer_pub``, confirmation tag from the derived key schedule)
(RFC 9420 section 12.4.3.1; test-vectors.md "Welcome").

Our side of the exchange is checked too: the decrypted GroupInfo and GroupSecrets are re-encrypted with our
:func:`build_welcome` and opened again.
"""

from __future__ import annotations

import random

from ..codec import decode, encode
from ..crypto import get_suite, make_key_package_ref
from ..errors import MLSError
from ..framing.messages import MLSMessage
from ..key_schedule import welcome_secret as derive_welcome_secret
from ..messages.key_package import KeyPackage
from ..messages.welcome import Welcome
from ..welcome_crypto import build_welcome, open_welcome, verify_group_info
from . import Case, VectorMismatch, expect


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    key_package = decode(MLSMessage, _h(case["key_package"])).body
    welcome = decode(MLSMessage, _h(case["welcome"])).body
    if not isinstance(key_package, KeyPackage) or not isinstance(welcome, Welcome):
        raise VectorMismatch("key_package / welcome are not a KeyPackage / Welcome MLSMessage")
    ref = make_key_package_ref(suite, encode(key_package))
    init_key = suite.hpke_private_key_from_bytes(_h(case["init_priv"]))
    expect("init_priv matches the KeyPackage init_key", init_key.public_bytes(), key_package.init_key)
    signer_pub = _h(case["signer_pub"])

    opened = open_welcome(suite, welcome, ref, init_key)
    verify_group_info(suite, signer_pub, opened.group_info)

    # our own Welcome with the same GroupInfo and GroupSecrets
    rng = random.Random(suite.id).randbytes
    welcome_secret = derive_welcome_secret(suite, opened.group_secrets.joiner_secret, opened.psk_secret)
    ours = build_welcome(suite, welcome_secret, opened.group_info, [(key_package, opened.group_secrets)], rng)
    again = open_welcome(suite, decode(Welcome, encode(ours)), ref, init_key)
    expect("our Welcome: group_info", again.group_info, opened.group_info)
    expect("our Welcome: group_secrets", again.group_secrets, opened.group_secrets)
    expect("our Welcome: epoch secrets", again.epoch_secrets, opened.epoch_secrets)
    tampered = bytearray(ours.encrypted_group_info)
    tampered[0] ^= 1
    try:
        open_welcome(suite, Welcome(ours.cipher_suite, ours.secrets, bytes(tampered)), ref, init_key)
    except MLSError:
        pass
    else:
        raise VectorMismatch("a Welcome with tampered encrypted_group_info opened")
