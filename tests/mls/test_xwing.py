"""X-Wing (draft-connolly-cfrg-xwing-kem-06) as an HPKE KEM: sizes, structure, failures, and interop.

The independent check drives two JavaScript implementations of draft-06 from npm, both written apart from
``cryptography``/OpenSSL: ``@noble/post-quantum`` 0.7.1 (``ml_kem768_x25519``, its own ML-KEM) and
``@hpke/hybridkem-x-wing`` 0.7.0 (on the ``mlkem`` package) with ``@hpke/core`` 1.9.0 for whole HPKE
contexts. Both implement the draft-05+ construction (label last, SHAKE256 expansion) that draft-06 specifies.
They are looked for in ``$PYXMTP_XWING_PEER_DIR/node_modules`` and then in ``tests/interop/tsmls/node_modules``;
without them (or without node) the interop tests skip and say how to install them. No known-answer values are
stored here: every expected value is computed by the peer at test time.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from pyxmtp.mls.crypto.aead import CHACHA20_POLY1305
from pyxmtp.mls.crypto.hpke import DHKEM_X25519_HKDF_SHA256, HPKE
from pyxmtp.mls.crypto.kdf import HKDF_SHA256
from pyxmtp.mls.crypto.xwing import (
    ENC_LEN,
    PUBLIC_KEY_LEN,
    SEED_LEN,
    SHARED_SECRET_LEN,
    XWING_DRAFT06,
    XWING_DRAFT06_OBSOLETE,
    XWING_LABEL,
    XWingKEM,
)
from pyxmtp.mls.errors import DecryptError, InvalidKey, LocalMLSError
from tests.conftest import interop_unavailable

KEM = XWING_DRAFT06_OBSOLETE
SUITE = HPKE(KEM, HKDF_SHA256, CHACHA20_POLY1305)
INFO = b"pyxmtp x-wing test info"


def seeded(seed: int) -> Any:
    gen = random.Random(seed)
    return lambda n: gen.randbytes(n)


def flip(data: bytes, index: int, bit: int = 1) -> bytes:
    out = bytearray(data)
    out[index] ^= bit
    return bytes(out)


# --- the independent peer (node) ----------------------------------------------------------------------------

PEER_PACKAGES = ("@hpke/core", "@hpke/chacha20poly1305", "@hpke/hybridkem-x-wing", "@noble/post-quantum")
PEER_INSTALL = (
    "`bash scripts/setup_interop.sh` (make install-dev runs it) installs them into tests/interop/xwing; "
    "or set PYXMTP_XWING_PEER_DIR to a directory holding them"
)

PEER_SCRIPT = r"""
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { XWing } from "@hpke/hybridkem-x-wing";
import { ml_kem768_x25519 } from "@noble/post-quantum/hybrid.js";

const hex = (b) => Buffer.from(new Uint8Array(b)).toString("hex");
const bin = (h) => new Uint8Array(Buffer.from(h, "hex"));
const buf = (h) => { const u = bin(h); return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength); };

function suiteFor(req) {
  let kem;
  if (req.kem === "xwing") { kem = new XWing(); kem.id = req.kem_id; } else { kem = new DhkemX25519HkdfSha256(); }
  return new CipherSuite({ kem, kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
}

async function run(req) {
  const xw = new XWing();
  switch (req.op) {
    case "keygen": return { pk: hex(ml_kem768_x25519.keygen(bin(req.seed)).publicKey) };
    case "derive": {
      const kp = await xw.deriveKeyPair(buf(req.ikm));
      return { sk: hex(await xw.serializePrivateKey(kp.privateKey)), pk: hex(await xw.serializePublicKey(kp.publicKey)) };
    }
    case "decap": {
      const sk = await xw.importKey("raw", buf(req.seed), false);
      return { noble: hex(ml_kem768_x25519.decapsulate(bin(req.enc), bin(req.seed))),
               hpke: hex(await xw.decap({ enc: buf(req.enc), recipientKey: sk })) };
    }
    case "encap": {
      const n = ml_kem768_x25519.encapsulate(bin(req.pk), bin(req.eseed));
      const pk = await xw.importKey("raw", buf(req.pk), true);
      const h = await xw.encap({ recipientPublicKey: pk, ekm: buf(req.eseed) });
      return { noble_ss: hex(n.sharedSecret), noble_ct: hex(n.cipherText), hpke_ss: hex(h.sharedSecret), hpke_enc: hex(h.enc) };
    }
    case "open": {
      const suite = suiteFor(req);
      const sk = await suite.kem.importKey("raw", buf(req.sk), false);
      const ctx = await suite.createRecipientContext({ recipientKey: sk, enc: buf(req.enc), info: buf(req.info) });
      const pts = [];
      for (const ct of req.cts) {
        try { pts.push(hex(await ctx.open(buf(ct), new ArrayBuffer(0)))); } catch (e) { pts.push(null); }
      }
      return { suite_id: hex(suite._suiteId), pts };
    }
    case "seal": {
      const suite = suiteFor(req);
      const pk = await suite.kem.importKey("raw", buf(req.pk), true);
      const ctx = await suite.createSenderContext({ recipientPublicKey: pk, info: buf(req.info) });
      const cts = [];
      for (const pt of req.pts) cts.push(hex(await ctx.seal(buf(pt), new ArrayBuffer(0))));
      return { enc: hex(ctx.enc), cts };
    }
    default: throw new Error("unknown op " + req.op);
  }
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const req of JSON.parse(input)) out.push(await run(req));
process.stdout.write(JSON.stringify(out));
"""


@cache
def _peer_dir() -> Path | None:
    if shutil.which("node") is None:
        return None
    candidates = [
        os.environ.get("PYXMTP_XWING_PEER_DIR"),
        str(Path(__file__).parents[1] / "interop" / "xwing"),
    ]
    for candidate in candidates:
        if candidate and all(
            (Path(candidate) / "node_modules" / p / "package.json").is_file() for p in PEER_PACKAGES
        ):
            return Path(candidate)
    return None


def run_peer(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``requests`` through the JavaScript X-Wing/HPKE peer; skip the test when it is not installed."""
    where = _peer_dir()
    if where is None:
        interop_unavailable(
            f"the independent X-Wing peer (node + {', '.join(PEER_PACKAGES)}) is not installed: {PEER_INSTALL}"
        )
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", PEER_SCRIPT],
        cwd=where,
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


# --- sizes and structure ------------------------------------------------------------------------------------


def test_sizes_and_codepoints() -> None:
    assert (KEM.kem_id, XWING_DRAFT06.kem_id) == (0x004D, 0x647A)
    assert (KEM.public_key_len, KEM.enc_len, KEM.shared_secret_len, KEM.private_key_len) == (
        1216,
        1120,
        32,
        32,
    )
    assert (PUBLIC_KEY_LEN, ENC_LEN, SHARED_SECRET_LEN, SEED_LEN) == (1216, 1120, 32, 32)
    assert XWING_LABEL.hex() == "5c2e2f2f5e5c"
    assert SUITE.suite_id == bytes.fromhex("48504b45004d00010003")  # "HPKE" 004D 0001 0003
    key = KEM.generate_key_pair(os.urandom)
    ss, enc = KEM.encap(key.public_bytes(), os.urandom)
    assert (len(key.to_bytes()), len(key.public_bytes()), len(enc), len(ss)) == (32, 1216, 1120, 32)
    assert key.kem_id == 0x004D and "X-Wing" in key.algorithm


def test_key_expansion_structure() -> None:
    """pk = ML-KEM-768.KeyGen(SHAKE256(seed)[0:64]).pk || X25519(SHAKE256(seed)[64:96], 9)."""
    seed = bytes(range(32))
    expanded = hashlib.shake_256(seed).digest(96)
    pk_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]).public_key().public_bytes_raw()
    pk_x = x25519.X25519PrivateKey.from_private_bytes(expanded[64:]).public_key().public_bytes_raw()
    key = KEM.private_key_from_bytes(seed)
    assert key.public_bytes() == pk_m + pk_x
    assert key.to_bytes() == seed  # the private key is the seed


def test_combiner_structure() -> None:
    """Decapsulation = SHA3-256(ss_M || ss_X || ct_X || pk_X || label), the order of draft-05 and later."""
    seed = os.urandom(32)
    key = KEM.private_key_from_bytes(seed)
    ss, enc = KEM.encap(key.public_bytes(), os.urandom)
    expanded = hashlib.shake_256(seed).digest(96)
    ss_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]).decapsulate(enc[:1088])
    sk_x = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
    ss_x = sk_x.exchange(x25519.X25519PublicKey.from_public_bytes(enc[1088:]))
    pk_x = key.public_bytes()[1184:]
    assert ss == hashlib.sha3_256(ss_m + ss_x + enc[1088:] + pk_x + XWING_LABEL).digest()
    # draft-04's order (label first) would give something else
    assert ss != hashlib.sha3_256(XWING_LABEL + ss_m + ss_x + enc[1088:] + pk_x).digest()


def test_derive_key_pair_is_shake256_of_ikm() -> None:
    ikm = b"input keying material"
    key = KEM.derive_key_pair(ikm)
    assert key.to_bytes() == hashlib.shake_256(ikm).digest(32)
    assert KEM.derive_key_pair(ikm) == key
    assert KEM.derive_key_pair(ikm + b"!") != key


def test_round_trip_and_private_key_serialisation() -> None:
    key = KEM.generate_key_pair(seeded(1))
    assert KEM.generate_key_pair(seeded(1)) == key  # the seed comes from rng
    again = KEM.private_key_from_bytes(key.to_bytes())
    assert again.public_bytes() == key.public_bytes()
    ss, enc = KEM.encap(key.public_bytes(), os.urandom)
    assert KEM.decap(enc, again) == ss
    ss2, enc2 = KEM.encap(key.public_bytes(), os.urandom)
    assert (ss2, enc2) != (ss, enc)
    assert "public=" in repr(key) and key.to_bytes().hex() not in repr(key)


def test_x25519_ephemeral_comes_from_rng() -> None:
    key = KEM.generate_key_pair(os.urandom)
    _, enc_a = KEM.encap(key.public_bytes(), seeded(7))
    _, enc_b = KEM.encap(key.public_bytes(), seeded(7))
    assert enc_a[1088:] == enc_b[1088:]  # ct_X from rng
    assert enc_a[:1088] != enc_b[:1088]  # ct_M from the OS (cryptography takes no ML-KEM coins)


# --- failures -----------------------------------------------------------------------------------------------


def test_bad_public_keys() -> None:
    good = KEM.generate_key_pair(os.urandom).public_bytes()
    for bad in (good[:-1], good + b"\x00", b""):
        with pytest.raises(InvalidKey, match="1216 bytes"):
            KEM.validate_public_key(bad)
        with pytest.raises(InvalidKey):
            KEM.encap(bad, os.urandom)
    not_mlkem = b"\xff" * 1184 + good[1184:]  # coefficients >= q fail the FIPS 203 modulus check
    with pytest.raises(InvalidKey, match="ML-KEM-768"):
        KEM.validate_public_key(not_mlkem)
    low_order = good[:1184] + bytes(32)
    KEM.validate_public_key(low_order)  # X25519 accepts any 32 bytes...
    with pytest.raises(InvalidKey, match="low-order"):
        KEM.encap(low_order, os.urandom)  # ...but the exchange with a low-order point is refused


def test_bad_enc_and_keys() -> None:
    key = KEM.generate_key_pair(os.urandom)
    ss, enc = KEM.encap(key.public_bytes(), os.urandom)
    for bad in (enc[:-1], enc + b"\x00", b""):
        with pytest.raises(DecryptError, match="1120 bytes"):
            KEM.decap(bad, key)
    with pytest.raises(DecryptError, match="low-order"):
        KEM.decap(enc[:1088] + bytes(32), key)
    assert KEM.decap(flip(enc, 0), key) != ss  # ML-KEM implicit rejection
    assert KEM.decap(flip(enc, 1100), key) != ss  # another ct_X
    assert KEM.decap(enc, KEM.generate_key_pair(os.urandom)) != ss
    with pytest.raises(InvalidKey, match="32 bytes"):
        KEM.private_key_from_bytes(bytes(31))
    with pytest.raises(LocalMLSError, match="not a key of this KEM"):
        KEM.decap(enc, DHKEM_X25519_HKDF_SHA256.generate_key_pair(os.urandom))
    with pytest.raises(LocalMLSError, match="not a key of this KEM"):
        KEM.decap(enc, XWING_DRAFT06.private_key_from_bytes(key.to_bytes()))
    with pytest.raises(LocalMLSError, match="random source"):
        KEM.generate_key_pair(lambda n: bytes(n - 1))


# --- HPKE over X-Wing ---------------------------------------------------------------------------------------


def test_hpke_context_round_trip_and_tampering() -> None:
    key = KEM.generate_key_pair(os.urandom)
    enc, sender = SUITE.setup_sender(key.public_bytes(), INFO, os.urandom)
    cts = [sender.seal(b"aad", b"first"), sender.seal(b"", b"second")]
    receiver = SUITE.setup_receiver(key, enc, INFO)
    assert [receiver.open(b"aad", cts[0]), receiver.open(b"", cts[1])] == [b"first", b"second"]
    for bad_enc, bad_info in ((flip(enc, 5), INFO), (flip(enc, 1110), INFO), (enc, INFO + b"x")):
        with pytest.raises(DecryptError):
            SUITE.setup_receiver(key, bad_enc, bad_info).open(b"aad", cts[0])
    with pytest.raises(DecryptError, match="1120 bytes"):
        SUITE.setup_receiver(key, enc[:-1], INFO)


def test_codepoint_enters_the_key_schedule() -> None:
    """0x004D and 0x647A share keys and shared secrets but not HPKE keys (suite_id differs)."""
    seed = os.urandom(32)
    other = HPKE(XWING_DRAFT06, HKDF_SHA256, CHACHA20_POLY1305)
    enc, ct = SUITE.seal(KEM.private_key_from_bytes(seed).public_bytes(), INFO, b"", b"pt", os.urandom)
    assert (
        XWING_DRAFT06.private_key_from_bytes(seed).public_bytes()
        == KEM.private_key_from_bytes(seed).public_bytes()
    )
    assert SUITE.open(KEM.private_key_from_bytes(seed), enc, INFO, b"", ct) == b"pt"
    with pytest.raises(DecryptError):
        other.open(XWING_DRAFT06.private_key_from_bytes(seed), enc, INFO, b"", ct)


def test_xwing_kem_is_a_plain_kem_subclass() -> None:
    kem = XWingKEM(0x1234, "X-Wing test codepoint")
    assert HPKE(kem, HKDF_SHA256, CHACHA20_POLY1305).suite_id[4:6] == b"\x12\x34"


# --- the independent implementations ------------------------------------------------------------------------


@pytest.mark.interop
def test_interop_key_generation_and_derivation() -> None:
    seeds = [bytes(32), bytes(range(32)), os.urandom(32), os.urandom(32)]
    ikms = [bytes(32), os.urandom(32), b"short", os.urandom(100)]
    out = run_peer(
        [{"op": "keygen", "seed": s.hex()} for s in seeds] + [{"op": "derive", "ikm": i.hex()} for i in ikms]
    )
    for seed, got in zip(seeds, out[: len(seeds)], strict=True):
        assert KEM.private_key_from_bytes(seed).public_bytes().hex() == got["pk"]
    for ikm, got in zip(ikms, out[len(seeds) :], strict=True):
        key = KEM.derive_key_pair(ikm)
        assert (key.to_bytes().hex(), key.public_bytes().hex()) == (got["sk"], got["pk"])


@pytest.mark.interop
def test_interop_encapsulation_both_ways() -> None:
    keys = [KEM.generate_key_pair(os.urandom) for _ in range(3)]
    ours = [KEM.encap(k.public_bytes(), os.urandom) for k in keys]
    eseeds = [os.urandom(64) for _ in keys]
    requests = [
        {"op": "decap", "seed": k.to_bytes().hex(), "enc": enc.hex()}
        for k, (_, enc) in zip(keys, ours, strict=True)
    ]
    requests += [
        {"op": "encap", "pk": k.public_bytes().hex(), "eseed": e.hex()}
        for k, e in zip(keys, eseeds, strict=True)
    ]
    out = run_peer(requests)
    for (ss, _), got in zip(ours, out[:3], strict=True):  # our encapsulation, their decapsulation
        assert got["noble"] == got["hpke"] == ss.hex()
    for key, got in zip(keys, out[3:], strict=True):  # their (derandomised) encapsulation, our decapsulation
        assert got["noble_ct"] == got["hpke_enc"] and got["noble_ss"] == got["hpke_ss"]
        assert KEM.decap(bytes.fromhex(got["hpke_enc"]), key).hex() == got["hpke_ss"]


@pytest.mark.interop
def test_interop_hpke_contexts_on_0x004d() -> None:
    key = KEM.generate_key_pair(os.urandom)
    pts = [b"seal one", b"", os.urandom(3000)]
    enc, sender = SUITE.setup_sender(key.public_bytes(), INFO, os.urandom)
    cts = [sender.seal(b"", pt) for pt in pts]
    common = {"kem": "xwing", "kem_id": 0x004D, "info": INFO.hex()}
    out = run_peer(
        [
            {
                "op": "open",
                "sk": key.to_bytes().hex(),
                "enc": enc.hex(),
                "cts": [c.hex() for c in cts],
                **common,
            },
            {"op": "open", "sk": key.to_bytes().hex(), "enc": enc.hex(), "cts": [cts[1].hex()], **common},
            {"op": "seal", "pk": key.public_bytes().hex(), "pts": [p.hex() for p in pts], **common},
        ]
    )
    assert out[0]["suite_id"] == SUITE.suite_id.hex()
    assert out[0]["pts"] == [p.hex() for p in pts]
    assert out[1]["pts"] == [None]  # sequence numbers matter: the second seal does not open first
    receiver = SUITE.setup_receiver(key, bytes.fromhex(out[2]["enc"]), INFO)
    assert [receiver.open(b"", bytes.fromhex(c)) for c in out[2]["cts"]] == pts
