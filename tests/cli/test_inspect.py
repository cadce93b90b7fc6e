"""``pyxmtp inspect`` without a node: how INPUT is read (hex, base64, files, stdin), what guessing says, that a
peer's text cannot drive the terminal, and that any bytes at all give a decoded tree or a one-line error, never a
traceback. The payloads are pyxmtp's own (the libxmtp ones are in ``tests/client/test_inspect_libxmtp.py``)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyxmtp.cli.inspect.kinds import KINDS
from pyxmtp.cli.main import main
from pyxmtp.conversations.content import build_plaintext_envelope, encode_text
from pyxmtp.conversations.key_packages import XMTP_CIPHER_SUITE, create_xmtp_key_package
from pyxmtp.conversations.welcome_wrap import generate_wrapper_key_pair
from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.framing.messages import MLSMessage
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.proto.mls.message_contents import group_membership_pb2

INBOX = "ab" * 32
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def inspect(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """``pyxmtp inspect ARGS`` in this process (``stdin`` as its standard input): status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["inspect", *args])
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def as_json(*args: str, stdin: bytes | None = None) -> dict[str, Any]:
    code, out, err = inspect("--json", *args, stdin=stdin)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


@pytest.fixture(scope="module")
def key_package() -> bytes:
    """Our own key package, bare TLS, with an X-Wing wrapper key."""
    signer = get_suite(XMTP_CIPHER_SUITE).generate_signature_key(os.urandom)
    wrapper = generate_wrapper_key_pair(os.urandom)
    bundle = create_xmtp_key_package(
        INBOX, signer, rng=os.urandom, now=int(time.time()), welcome_wrapper=wrapper.extension()
    )
    return encode(bundle.key_package)


def text_content(text: str) -> bytes:
    return encode_text(text)[0]


# --- INPUT --------------------------------------------------------------------------------------------------------


def test_hex_in_every_usual_spelling_is_read(key_package: bytes) -> None:
    spelled = [
        key_package.hex(),
        "0x" + key_package.hex().upper(),
        " ".join(key_package[i : i + 16].hex() for i in range(0, len(key_package), 16)),
        ":".join(f"{b:02x}" for b in key_package),
    ]
    for text in spelled:
        assert as_json(text)["value"]["inbox_id"] == INBOX


def test_base64_standard_and_url_safe_with_or_without_padding_is_read(key_package: bytes) -> None:
    content = next(c for c in (text_content("base64 " + "!" * n) for n in range(3)) if len(c) % 3)
    for payload, kind in ((key_package, "key-package"), (content, "encoded-content")):
        standard = base64.b64encode(payload).decode()
        url_safe = base64.urlsafe_b64encode(payload).decode()
        for text in (standard, standard.rstrip("="), url_safe, url_safe.rstrip("=")):
            assert as_json(text)["type"] == kind
    assert base64.b64encode(content).decode().endswith("=")  # padding was there to be left out


def test_files_and_stdin_are_read_raw_or_as_text(key_package: bytes, tmp_path: Path) -> None:
    raw = tmp_path / "kp.bin"
    raw.write_bytes(key_package)
    as_hex = tmp_path / "kp.hex"
    as_hex.write_text(key_package.hex() + "\n")
    as_b64 = tmp_path / "kp.b64"
    as_b64.write_text(base64.encodebytes(key_package).decode())  # wrapped lines
    for args in ([f"@{raw}"], [str(raw)], [f"@{as_hex}"], [str(as_b64)], ["--encoding", "raw", str(raw)]):
        assert as_json(*args)["value"]["inbox_id"] == INBOX
    for stdin in (key_package, key_package.hex().encode(), base64.b64encode(key_package)):
        assert as_json(stdin=stdin)["value"]["inbox_id"] == INBOX
        assert as_json("-", stdin=stdin)["value"]["inbox_id"] == INBOX


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["not hex!"], None, "cannot read INPUT: the argument is neither hex nor base64"),
        (["--encoding", "hex", "abcdefg"], None, "cannot read INPUT: the argument is not hex"),
        (
            ["@/nonexistent/payload"],
            None,
            "cannot read INPUT: cannot read /nonexistent/payload: No such file",
        ),
        (["--encoding", "raw", "00"], None, "cannot read INPUT: --encoding raw reads a file or stdin"),
        ([], b"", "cannot decode stdin: it is empty"),
        (["--node", "127.0.0.1:1", "00"], None, "--node, --tls and --ca-file go with --home"),
    ],
)
def test_unreadable_input_is_a_one_line_error(args: list[str], stdin: bytes | None, message: str) -> None:
    code, out, err = inspect(*args, stdin=stdin)
    assert code == 1 and not out
    assert err.startswith(f"pyxmtp inspect: {message}"), err


def test_a_reader_that_stops_early_ends_the_command_quietly(key_package: bytes) -> None:
    """``pyxmtp inspect ... | head``: the closed pipe ends the command with status 141, without a traceback."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyxmtp", "inspect", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes (it waits for its stdin first)
    proc.stdin.write(key_package)
    proc.stdin.close()
    assert proc.wait(timeout=60) == 141
    assert b"Traceback" not in proc.stderr.read()
    proc.stderr.close()


# --- guessing and naming ------------------------------------------------------------------------------------------


def test_a_guess_says_so_and_names_the_other_readings(key_package: bytes) -> None:
    code, out, _ = inspect(key_package.hex())
    assert code == 0 and out.startswith(f"# key-package ({len(key_package)} bytes; guessed")
    code, out, _ = inspect("--type", "key-package", key_package.hex())
    assert code == 0 and out.startswith(f"# key-package ({len(key_package)} bytes)\n")

    # an MLSMessage is guessed as one; naming its body's kind reads the same bytes
    wrapped = encode(MLSMessage(parsed(key_package)))
    doc = as_json(wrapped.hex())
    assert doc["type"] == "mls-message" and doc["also_decodes_as"] == []
    assert doc["value"]["key_package"]["inbox_id"] == INBOX
    assert as_json("--type", "key-package", wrapped.hex())["value"]["key_package"]["inbox_id"] == INBOX

    # a plaintext envelope is also, loosely, other protobufs: the most specific reading wins
    envelope = build_plaintext_envelope(text_content("hi"), "42")
    doc = as_json(envelope.hex())
    assert doc["type"] == "plaintext-envelope"
    assert doc["value"]["v1"]["content"]["decoded"]["decoded"] == {"text": "hi"}


def parsed(data: bytes) -> KeyPackage:
    return decode(KeyPackage, data)


def test_bytes_no_kind_reads_give_the_reason_of_each(key_package: bytes) -> None:
    code, out, err = inspect(key_package[:-1].hex())
    assert code == 1 and not out
    first, *reasons = err.splitlines()
    assert (
        first
        == f"pyxmtp inspect: cannot decode the argument ({len(key_package) - 1} bytes) as any payload kind (--type names one):"
    )
    assert any(line.startswith("  key-package: KeyPackage: at offset") for line in reasons)
    assert any(line.startswith("  group-message, welcome-message,") for line in reasons)  # grouped


def test_help_lists_every_kind() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["inspect", "--help"])
    for kind in KINDS:
        assert f"  {kind.name}" in out.getvalue()


def test_the_by_name_kinds_read_extension_bodies(key_package: bytes) -> None:
    doc = as_json("--type", "key-package", key_package.hex())
    [wrapper] = [e for e in doc["value"]["extensions"] if e["extension_type"] == "welcome_wrapper_encryption"]
    body = wrapper["extension_data"]["hex"]
    found = as_json("--type", "welcome-wrapper", body)
    assert found["value"]["algorithm"] == "XWING_MLKEM_768_DRAFT_6"
    assert as_json(body)["type"] == "welcome-wrapper"  # guessed too
    credential = doc["value"]["leaf_node"]["credential"]["identity"]["hex"]
    assert as_json("--type", "mls-credential", credential)["value"] == {"inbox_id": INBOX}


# --- what a peer wrote cannot drive the terminal ------------------------------------------------------------------


def test_control_and_format_characters_from_the_payload_are_escaped() -> None:
    hostile = "hi\x1b]0;owned\x07\x1b[2J\r\nforged line\u202egnp.exe"
    content = text_content(hostile)
    code, out, _ = inspect(content.hex())
    assert code == 0
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out and "\x07" not in out
    assert "text: hi\\x1b]0;owned\\x07\\x1b[2J\\r\\nforged line\\u202egnp.exe" in out
    code, out, _ = inspect("--json", content.hex())
    assert code == 0 and out.isascii()
    assert json.loads(out)["value"]["decoded"] == {"text": hostile}


def test_names_from_the_payload_are_escaped_too() -> None:
    membership = group_membership_pb2.GroupMembership(members={"\x1b[31mred\u2028": 3}).SerializeToString()
    code, out, _ = inspect("--type", "group-membership", membership.hex())
    assert code == 0 and "\x1b" not in out and "\u2028" not in out
    assert "\\x1b[31mred\\u2028: 3" in out


# --- any bytes: a tree or a clean refusal -------------------------------------------------------------------------

_HARMFUL = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _check(args: list[str]) -> None:
    code, out, err = inspect(*args)
    assert code in (0, 1), (code, err)
    if code == 1:
        assert err.startswith("pyxmtp inspect: cannot decode"), err
        assert not out
    assert "Traceback" not in err
    assert all(c == "\n" or unicodedata.category(c) not in _HARMFUL for c in out + err)


@FUZZ
@given(st.binary(min_size=1, max_size=300))
def test_random_bytes_decode_or_are_refused_cleanly(data: bytes) -> None:
    _check([data.hex()])


@FUZZ
@given(st.sampled_from([k.name for k in KINDS]), st.binary(min_size=1, max_size=200), st.booleans())
def test_random_bytes_as_any_named_kind_decode_or_are_refused_cleanly(
    kind: str, data: bytes, as_json: bool
) -> None:
    _check(["--type", kind, *(["--json"] if as_json else []), data.hex()])


@FUZZ
@given(st.data())
def test_damaged_payloads_decode_or_are_refused_cleanly(key_package: bytes, data: st.DataObject) -> None:
    source = data.draw(
        st.sampled_from(
            [
                key_package,
                encode(MLSMessage(parsed(key_package))),
                text_content("some text"),
                build_plaintext_envelope(text_content("some text"), "1"),
            ]
        )
    )
    damaged = bytearray(source)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged) - 1))
    _check([bytes(damaged[: len(damaged) - cut]).hex()])
