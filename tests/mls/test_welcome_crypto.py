"""Welcome encryption and GroupInfo signatures (RFC 9420 section 12.4.3): the committer's and the joiner's
side, PSKs, and every failure a joiner must detect."""

from __future__ import annotations

import dataclasses
import random

import pytest

from pyxmtp.mls.codec import encode
from pyxmtp.mls.crypto import HPKEPrivateKey, get_suite, make_key_package_ref
from pyxmtp.mls.errors import DecryptError, InvalidSignature, MissingKeyError, ValidationError
from pyxmtp.mls.key_schedule import EpochKeySchedule, advance_epoch, welcome_secret
from pyxmtp.mls.messages.group_info import GroupContext, GroupInfo
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import ExternalPSK, PreSharedKeyID
from pyxmtp.mls.messages.welcome import GroupSecrets, Welcome
from pyxmtp.mls.psk import psk_secret
from pyxmtp.mls.transcript import InvalidConfirmationTag, confirmation_tag
from pyxmtp.mls.welcome_crypto import (
    build_welcome,
    decrypt_group_info,
    encrypt_group_info,
    open_welcome,
    sign_group_info,
    verify_group_info,
    welcome_key_nonce,
)
from tests.mls.test_messages import key_package as template_key_package

SUITE = get_suite(3)
SIGNER = SUITE.generate_signature_key(random.Random(1).randbytes)
CONTEXT = GroupContext(1, 3, b"group", 5, b"T" * 32, b"C" * 32, ())
PSK_ID = PreSharedKeyID(ExternalPSK(b"psk-1"), b"n" * 32)
PSK_VALUE = b"external psk value"


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


def member(seed: int) -> tuple[KeyPackage, HPKEPrivateKey, bytes]:
    init = SUITE.hpke_generate_key_pair(rng(seed).randbytes)
    kp = dataclasses.replace(template_key_package(), init_key=init.public_bytes())
    return kp, init, make_key_package_ref(SUITE, encode(kp))


def committer_epoch(psks: bool = False) -> tuple[EpochKeySchedule, GroupInfo, bytes]:
    psk = psk_secret(SUITE, [(PSK_ID, PSK_VALUE)]) if psks else None
    schedule = advance_epoch(SUITE, b"i" * 32, b"c" * 32, CONTEXT, psk)
    tag = confirmation_tag(SUITE, schedule.secrets.confirmation_key, CONTEXT.confirmed_transcript_hash)
    info = sign_group_info(SUITE, SIGNER, CONTEXT, (), tag, 0)
    return schedule, info, psk or bytes(32)


def welcome_for(
    recipients: list[tuple[KeyPackage, HPKEPrivateKey, bytes]], psks: bool = False
) -> tuple[Welcome, EpochKeySchedule, GroupInfo]:
    schedule, info, _ = committer_epoch(psks)
    secrets = GroupSecrets(schedule.joiner_secret, None, (PSK_ID,) if psks else ())
    welcome = build_welcome(
        SUITE, schedule.welcome_secret, info, [(kp, secrets) for kp, _, _ in recipients], rng(9).randbytes
    )
    return welcome, schedule, info


def test_every_recipient_joins_the_committers_epoch() -> None:
    alice, bob = member(1), member(2)
    welcome, schedule, info = welcome_for([alice, bob])
    assert [e.new_member for e in welcome.secrets] == [alice[2], bob[2]]
    for _kp, init, ref in (alice, bob):
        opened = open_welcome(SUITE, welcome, ref, init)
        assert opened.epoch_secrets == schedule.secrets
        assert opened.group_info == info
        assert opened.group_secrets.joiner_secret == schedule.joiner_secret
        verify_group_info(SUITE, SIGNER.public_bytes(), opened.group_info)
    assert "joiner" not in repr(opened) and schedule.joiner_secret.hex() not in repr(opened)


def test_welcome_not_addressed_to_us() -> None:
    welcome, _, _ = welcome_for([member(1)])
    _, init, ref = member(3)
    with pytest.raises(MissingKeyError):
        open_welcome(SUITE, welcome, ref, init)


def test_wrong_init_key_cannot_decrypt() -> None:
    alice = member(1)
    welcome, _, _ = welcome_for([alice])
    with pytest.raises(DecryptError):
        open_welcome(SUITE, welcome, alice[2], member(4)[1])


def test_group_secrets_are_bound_to_the_encrypted_group_info() -> None:
    alice = member(1)
    welcome, _, _ = welcome_for([alice])
    other, _, _ = welcome_for([alice], psks=True)
    mixed = Welcome(welcome.cipher_suite, welcome.secrets, other.encrypted_group_info)
    with pytest.raises(DecryptError):
        open_welcome(SUITE, mixed, alice[2], alice[1])


def test_tampered_group_info_ciphertext() -> None:
    alice = member(1)
    welcome, _, _ = welcome_for([alice])
    bad = bytearray(welcome.encrypted_group_info)
    bad[-1] ^= 1
    with pytest.raises(DecryptError):
        open_welcome(SUITE, Welcome(3, welcome.secrets, bytes(bad)), alice[2], alice[1])


def test_confirmation_tag_is_checked() -> None:
    alice = member(1)
    schedule, _, _ = committer_epoch()
    forged = sign_group_info(SUITE, SIGNER, CONTEXT, (), b"x" * 32, 0)
    secrets = GroupSecrets(schedule.joiner_secret, None, ())
    welcome = build_welcome(SUITE, schedule.welcome_secret, forged, [(alice[0], secrets)], rng().randbytes)
    with pytest.raises(InvalidConfirmationTag):
        open_welcome(SUITE, welcome, alice[2], alice[1])


def test_group_info_signature() -> None:
    _, info, _ = committer_epoch()
    verify_group_info(SUITE, SIGNER.public_bytes(), info)
    with pytest.raises(InvalidSignature):
        verify_group_info(SUITE, SUITE.generate_signature_key(rng(5).randbytes).public_bytes(), info)
    with pytest.raises(InvalidSignature):
        verify_group_info(SUITE, SIGNER.public_bytes(), dataclasses.replace(info, signer=1))
    with pytest.raises(InvalidSignature):
        verify_group_info(
            SUITE,
            SIGNER.public_bytes(),
            dataclasses.replace(info, group_context=dataclasses.replace(CONTEXT, epoch=6)),
        )


def test_psks_in_the_welcome() -> None:
    alice = member(1)
    welcome, schedule, _ = welcome_for([alice], psks=True)
    with pytest.raises(MissingKeyError):
        open_welcome(SUITE, welcome, alice[2], alice[1])
    with pytest.raises(MissingKeyError):
        open_welcome(SUITE, welcome, alice[2], alice[1], lambda pid: None)
    opened = open_welcome(
        SUITE, welcome, alice[2], alice[1], lambda pid: PSK_VALUE if pid == PSK_ID else None
    )
    assert opened.epoch_secrets == schedule.secrets
    assert opened.psk_secret == psk_secret(SUITE, [(PSK_ID, PSK_VALUE)])
    with pytest.raises((DecryptError, InvalidConfirmationTag)):
        open_welcome(SUITE, welcome, alice[2], alice[1], lambda pid: b"wrong value")


def test_cipher_suite_mismatch() -> None:
    alice = member(1)
    welcome, _, _ = welcome_for([alice])
    with pytest.raises(ValidationError):
        open_welcome(get_suite(1), welcome, alice[2], alice[1])
    with pytest.raises(ValidationError):
        open_welcome(SUITE, dataclasses.replace(welcome, cipher_suite=1), alice[2], alice[1])


def test_group_info_encryption_round_trip_and_keys() -> None:
    _, info, _ = committer_epoch()
    secret = welcome_secret(SUITE, b"j" * 32, None)
    key, nonce = welcome_key_nonce(SUITE, secret)
    assert (len(key), len(nonce)) == (32, 12)
    ct = encrypt_group_info(SUITE, secret, info)
    assert decrypt_group_info(SUITE, secret, ct) == info
    assert SUITE.aead_open(key, nonce, b"", ct) == encode(info)
    with pytest.raises(DecryptError):
        decrypt_group_info(SUITE, welcome_secret(SUITE, b"k" * 32, None), ct)
