"""RFC 9180 HPKE: Appendix A base-mode known answers, and interop with ``cryptography``'s built-in HPKE."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from pyxmtp.mls.crypto import hpke
from pyxmtp.mls.crypto.aead import AEAD, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305
from pyxmtp.mls.crypto.hpke import HPKE, KEM
from pyxmtp.mls.crypto.kdf import HKDF, HKDF_SHA256, HKDF_SHA384, HKDF_SHA512
from pyxmtp.mls.crypto.keys import RandomSource
from pyxmtp.mls.errors import DecryptError, LocalMLSError

INFO = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")  # "Ode on a Grecian Urn"
PT = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")  # "Beauty is truth, ..."
EXPORT_CONTEXTS = (b"", b"\x00", b"TestContext")


@dataclass(frozen=True)
class BaseCase:
    section: str
    kem: KEM
    kdf: HKDF
    aead: AEAD
    ikm_e: str
    pk_em: str
    sk_em: str
    ikm_r: str
    pk_rm: str
    sk_rm: str
    shared_secret: str
    key: str
    base_nonce: str
    exporter_secret: str
    cts: dict[int, str]  # sequence number -> ciphertext (aad = "Count-<seq>")
    exports: tuple[str, str, str]  # for EXPORT_CONTEXTS, L = 32

    def __str__(self) -> str:
        return self.section


CASES = [
    BaseCase(
        section="A.1.1",
        kem=hpke.DHKEM_X25519_HKDF_SHA256,
        kdf=HKDF_SHA256,
        aead=AES_128_GCM,
        ikm_e="7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
        pk_em="37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
        sk_em="52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
        ikm_r="6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
        pk_rm="3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
        sk_rm="4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
        shared_secret="fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc",
        key="4531685d41d65f03dc48f6b8302c05b0",
        base_nonce="56d890e5accaaf011cff4b7d",
        exporter_secret="45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
        cts={
            0: "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
            1: "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84",
            2: "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180",
            4: "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d",
            255: "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a",
            256: "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2",
        },
        exports=(
            "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee",
            "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5",
            "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931",
        ),
    ),
    BaseCase(
        section="A.2.1",
        kem=hpke.DHKEM_X25519_HKDF_SHA256,
        kdf=HKDF_SHA256,
        aead=CHACHA20_POLY1305,
        ikm_e="909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
        pk_em="1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
        sk_em="f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
        ikm_r="1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
        pk_rm="4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
        sk_rm="8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
        shared_secret="0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7",
        key="ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91",
        base_nonce="5c4d98150661b848853b547f",
        exporter_secret="a3b010d4994890e2c6968a36f64470d3c824c8f5029942feb11e7a74b2921922",
        cts={
            0: "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
            1: "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c",
            2: "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b",
            4: "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16",
            255: "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c",
            256: "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6ed9e727a5b",
        },
        exports=(
            "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e",
            "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69",
            "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53",
        ),
    ),
    BaseCase(
        section="A.3.1",
        kem=hpke.DHKEM_P256_HKDF_SHA256,
        kdf=HKDF_SHA256,
        aead=AES_128_GCM,
        ikm_e="4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
        pk_em="04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b32"
        "5ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
        sk_em="4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb",
        ikm_r="668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550",
        pk_rm="04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f70"
        "6a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
        sk_rm="f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
        shared_secret="c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8",
        key="868c066ef58aae6dc589b6cfdd18f97e",
        base_nonce="4e0bc5018beba4bf004cca59",
        exporter_secret="14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f",
        cts={
            0: "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
            1: "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82",
            2: "895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b2ccc93e466c28fb55fed7a7fec",
            4: "8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec999dd36ce042e44f0c3169a6a8f",
            255: "2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd",
            256: "10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2",
        },
        exports=(
            "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d",
            "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796",
            "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a",
        ),
    ),
    BaseCase(
        section="A.6.1",
        kem=hpke.DHKEM_P521_HKDF_SHA512,
        kdf=HKDF_SHA512,
        aead=AES_256_GCM,
        ikm_e="7f06ab8215105fc46aceeb2e3dc5028b44364f960426eb0d8e4026c2f8b5d7"
        "e7a986688f1591abf5ab753c357a5d6f0440414b4ed4ede71317772ac98d9239f709"
        "04",
        pk_em="040138b385ca16bb0d5fa0c0665fbbd7e69e3ee29f63991d3e9b5fa740aab8"
        "900aaeed46ed73a49055758425a0ce36507c54b29cc5b85a5cee6bae0cf1c21f2731"
        "ece2013dc3fb7c8d21654bb161b463962ca19e8c654ff24c94dd2898de12051f1ed0"
        "692237fb02b2f8d1dc1c73e9b366b529eb436e98a996ee522aef863dd5739d2f29b0",
        sk_em="014784c692da35df6ecde98ee43ac425dbdd0969c0c72b42f2e708ab9d5354"
        "15a8569bdacfcc0a114c85b8e3f26acf4d68115f8c91a66178cdbd03b7bcc5291e37"
        "4b",
        ikm_r="2ad954bbe39b7122529f7dde780bff626cd97f850d0784a432784e69d86ecc"
        "aade43b6c10a8ffdb94bf943c6da479db137914ec835a7e715e36e45e29b587bab3b"
        "f1",
        pk_rm="0401b45498c1714e2dce167d3caf162e45e0642afc7ed435df7902ccae0e84"
        "ba0f7d373f646b7738bbbdca11ed91bdeae3cdcba3301f2457be452f271fa6837580"
        "e661012af49583a62e48d44bed350c7118c0d8dc861c238c72a2bda17f64704f464b"
        "57338e7f40b60959480c0e58e6559b190d81663ed816e523b6b6a418f66d2451ec64",
        sk_rm="01462680369ae375e4b3791070a7458ed527842f6a98a79ff5e0d4cbde83c2"
        "7196a3916956655523a6a2556a7af62c5cadabe2ef9da3760bb21e005202f7b24628"
        "47",
        shared_secret="776ab421302f6eff7d7cb5cb1adaea0cd50872c71c2d63c30c4f1"
        "d5e43653336fef33b103c67e7a98add2d3b66e2fda95b5b2a667aa9dac7e59cc1d46"
        "d30e818",
        key="751e346ce8f0ddb2305c8a2a85c70d5cf559c53093656be636b9406d4d7d1b70",
        base_nonce="55ff7a7d739c69f44b25447b",
        exporter_secret="e4ff9dfbc732a2b9c75823763c5ccc954a2c0648fc6de80a585"
        "81252d0ee3215388a4455e69086b50b87eb28c169a52f42e71de4ca61c920e7bd24c"
        "95cc3f992",
        cts={
            0: "170f8beddfe949b75ef9c387e201baf4132fa7374593dfafa90768788b7b2b200aafcc6d80ea4c795a7c5b841a",
            1: "d9ee248e220ca24ac00bbbe7e221a832e4f7fa64c4fbab3945b6f3af0c5ecd5e16815b328be4954a05fd352256",
            2: "142cf1e02d1f58d9285f2af7dcfa44f7c3f2d15c73d460c48c6e0e506a3144bae35284e7e221105b61d24e1c7a",
            4: "3bb3a5a07100e5a12805327bf3b152df728b1c1be75a9fd2cb2bf5eac0cca1fb80addb37eb2a32938c7268e3e5",
            255: "4f268d0930f8d50b8fd9d0f26657ba25b5cb08b308c92e33382f369c768b558e113ac95a4c70dd60909ad1adc7",
            256: "dbbfc44ae037864e75f136e8b4b4123351d480e6619ae0e0ae437f036f2f8f1ef677686323977a1ccbb4b4f16a",
        },
        exports=(
            "05e2e5bd9f0c30832b80a279ff211cc65eceb0d97001524085d609ead60d0412",
            "fca69744bb537f5b7a1596dbf34eaa8d84bf2e3ee7f1a155d41bd3624aa92b63",
            "f389beaac6fcf6c0d9376e20f97e364f0609a88f1bc76d7328e9104df8477013",
        ),
    ),
]


def fixed_random(data: bytes) -> RandomSource:
    """A random source that must be asked for exactly ``data`` once."""
    calls: list[int] = []

    def rng(n: int) -> bytes:
        assert n == len(data) and not calls, f"unexpected random request for {n} bytes"
        calls.append(n)
        return data

    return rng


def aad(seq: int) -> bytes:
    return f"Count-{seq}".encode()


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> BaseCase:
    c: BaseCase = request.param
    return c


def test_derive_key_pair(case: BaseCase) -> None:
    for ikm, sk, pk in ((case.ikm_e, case.sk_em, case.pk_em), (case.ikm_r, case.sk_rm, case.pk_rm)):
        key = case.kem.derive_key_pair(bytes.fromhex(ikm))
        assert key.to_bytes().hex() == sk
        assert key.public_bytes().hex() == pk
        assert case.kem.private_key_from_bytes(bytes.fromhex(sk)).public_bytes().hex() == pk


def test_encap_decap(case: BaseCase) -> None:
    shared, enc = case.kem.encap(bytes.fromhex(case.pk_rm), fixed_random(bytes.fromhex(case.sk_em)))
    assert enc.hex() == case.pk_em
    assert shared.hex() == case.shared_secret
    sk_r = case.kem.private_key_from_bytes(bytes.fromhex(case.sk_rm))
    assert case.kem.decap(enc, sk_r).hex() == case.shared_secret


def test_contexts_seal_open_export(case: BaseCase) -> None:
    suite = HPKE(case.kem, case.kdf, case.aead)
    pk_r = bytes.fromhex(case.pk_rm)
    enc, sender = suite.setup_sender(pk_r, INFO, fixed_random(bytes.fromhex(case.sk_em)))
    assert enc.hex() == case.pk_em
    assert (sender.key.hex(), sender.base_nonce.hex()) == (case.key, case.base_nonce)
    assert sender.exporter_secret.hex() == case.exporter_secret
    receiver = suite.setup_receiver(case.kem.private_key_from_bytes(bytes.fromhex(case.sk_rm)), enc, INFO)
    for seq in range(max(case.cts) + 1):
        ct = sender.seal(aad(seq), PT)
        if seq in case.cts:
            assert ct.hex() == case.cts[seq], f"sequence {seq}"
        assert receiver.open(aad(seq), ct) == PT
    for context, want in zip(EXPORT_CONTEXTS, case.exports, strict=True):
        assert sender.export(context, 32).hex() == want
        assert receiver.export(context, 32).hex() == want


def test_single_shot(case: BaseCase) -> None:
    suite = HPKE(case.kem, case.kdf, case.aead)
    pk_r = bytes.fromhex(case.pk_rm)
    sk_r = case.kem.private_key_from_bytes(bytes.fromhex(case.sk_rm))
    enc, ct = suite.seal(pk_r, INFO, aad(0), PT, fixed_random(bytes.fromhex(case.sk_em)))
    assert (enc.hex(), ct.hex()) == (case.pk_em, case.cts[0])
    assert suite.open(sk_r, enc, INFO, aad(0), ct) == PT
    with pytest.raises(DecryptError):
        suite.open(sk_r, enc, INFO, aad(1), ct)
    enc, exported = suite.send_export(pk_r, INFO, b"TestContext", 32, fixed_random(bytes.fromhex(case.sk_em)))
    assert (enc.hex(), exported.hex()) == (case.pk_em, case.exports[2])
    assert suite.receive_export(sk_r, enc, INFO, b"", 32).hex() == case.exports[0]


def test_receiver_rejects_out_of_order_and_keeps_sequence() -> None:
    c = CASES[1]
    suite = HPKE(c.kem, c.kdf, c.aead)
    enc, sender = suite.setup_sender(bytes.fromhex(c.pk_rm), INFO, os.urandom)
    receiver = suite.setup_receiver(c.kem.private_key_from_bytes(bytes.fromhex(c.sk_rm)), enc, INFO)
    ct0, ct1 = sender.seal(b"", b"zero"), sender.seal(b"", b"one")
    with pytest.raises(DecryptError):
        receiver.open(b"", ct1)
    assert receiver.seq == 0
    assert receiver.open(b"", ct0) == b"zero"
    assert receiver.open(b"", ct1) == b"one"


def test_export_length_limit() -> None:
    suite = HPKE(hpke.DHKEM_X25519_HKDF_SHA256, HKDF_SHA256, CHACHA20_POLY1305)
    pk = hpke.DHKEM_X25519_HKDF_SHA256.derive_key_pair(b"k" * 32).public_bytes()
    _, sender = suite.setup_sender(pk, b"", os.urandom)
    assert len(sender.export(b"", 255 * 32)) == 255 * 32
    with pytest.raises(LocalMLSError):
        sender.export(b"", 255 * 32 + 1)


# --- interop with cryptography.hazmat.primitives.hpke (a test oracle only) ---------------------------------

oracle = pytest.importorskip("cryptography.hazmat.primitives.hpke")

_ORACLE_SUITES = [
    (
        hpke.DHKEM_X25519_HKDF_SHA256,
        HKDF_SHA256,
        CHACHA20_POLY1305,
        "X25519",
        "HKDF_SHA256",
        "CHACHA20_POLY1305",
    ),
    (hpke.DHKEM_X25519_HKDF_SHA256, HKDF_SHA256, AES_128_GCM, "X25519", "HKDF_SHA256", "AES_128_GCM"),
    (hpke.DHKEM_P256_HKDF_SHA256, HKDF_SHA256, AES_128_GCM, "P256", "HKDF_SHA256", "AES_128_GCM"),
    (hpke.DHKEM_P384_HKDF_SHA384, HKDF_SHA384, AES_256_GCM, "P384", "HKDF_SHA384", "AES_256_GCM"),
    (hpke.DHKEM_P521_HKDF_SHA512, HKDF_SHA512, AES_256_GCM, "P521", "HKDF_SHA512", "AES_256_GCM"),
]
_CURVES = {"P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}


@pytest.mark.parametrize(("kem", "kdf", "aead", "o_kem", "o_kdf", "o_aead"), _ORACLE_SUITES)
def test_interop_with_cryptography_hpke(
    kem: KEM, kdf: HKDF, aead: AEAD, o_kem: str, o_kdf: str, o_aead: str
) -> None:
    ours = HPKE(kem, kdf, aead)
    theirs = oracle.Suite(
        getattr(oracle.KEM, o_kem), getattr(oracle.KDF, o_kdf), getattr(oracle.AEAD, o_aead)
    )
    key = kem.generate_key_pair(os.urandom)
    o_priv: x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey
    o_pub: x25519.X25519PublicKey | ec.EllipticCurvePublicKey
    if o_kem == "X25519":
        o_priv = x25519.X25519PrivateKey.from_private_bytes(key.to_bytes())
        o_pub = x25519.X25519PublicKey.from_public_bytes(key.public_bytes())
    else:
        o_priv = ec.derive_private_key(int.from_bytes(key.to_bytes(), "big"), _CURVES[o_kem])
        o_pub = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[o_kem], key.public_bytes())
    message = os.urandom(300)

    enc, ct = ours.seal(key.public_bytes(), b"info", b"", message, os.urandom)
    assert theirs.decrypt(enc + ct, o_priv, info=b"info") == message

    blob = theirs.encrypt(message, o_pub, info=b"info")
    assert ours.open(key, blob[: kem.enc_len], b"info", b"", blob[kem.enc_len :]) == message

    rust = oracle.rust_openssl.hpke
    if hasattr(rust, "_encrypt_with_aad"):  # private helper with a public AAD argument
        blob = rust._encrypt_with_aad(theirs, message, o_pub, info=b"i", aad=b"aad")
        assert ours.open(key, blob[: kem.enc_len], b"i", b"aad", blob[kem.enc_len :]) == message
        enc, ct = ours.seal(key.public_bytes(), b"i", b"aad", message, os.urandom)
        assert rust._decrypt_with_aad(theirs, enc + ct, o_priv, info=b"i", aad=b"aad") == message
