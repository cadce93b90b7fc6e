"""Every case of every official MLS test-vector file passes, for every cipher suite in it.

The same runner as ``pyxmtp mls vectors`` (:mod:`pyxmtp.mls.vectors`); the expected case counts catch a file
that was truncated or replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyxmtp.mls import (
    Credential,
    Group,
    GroupConfig,
    KeyPackageBundle,
    Lifetime,
    WireFormatPolicy,
    create_key_package,
    get_suite,
)
from pyxmtp.mls.vectors import run_file
from tests.conftest import require_vectors

FILES = {
    "tree-math": 10,
    "deserialization": 14,
    "crypto-basics": 7,
    "messages": 300,
    "secret-tree": 21,
    "key-schedule": 7,
    "psk_secret": 77,
    "transcript-hashes": 7,
    "message-protection": 7,
    "welcome": 7,
    "tree-validation": 98,
    "tree-operations": 5,
    "treekem": 77,
    "passive-client-welcome": 56,
    "passive-client-handling-commit": 91,
    "passive-client-random": 1,
}


@pytest.mark.parametrize(("name", "count"), FILES.items(), ids=list(FILES))
def test_official_vector_file(name: str, count: int) -> None:
    result = run_file(require_vectors() / f"{name}.json")
    failures = "\n".join(
        f"case {c.index} (suite {c.cipher_suite}): {c.reason}" for c in result.failures()[:10]
    )
    assert result.ok, f"{name}: {result.passed}/{result.total} passed\n{failures}"
    assert result.total == count


def test_cli_reports_per_file_and_fails_on_a_bad_case(tmp_path: Path) -> None:
    """``pyxmtp mls vectors`` prints '<file>: <passed>/<total> passed' and exits non-zero on any failed case."""

    good = require_vectors() / "tree-math.json"
    cases = json.loads(good.read_text())
    cases[0]["root"] += 1
    bad = tmp_path / "tree-math.json"
    bad.write_text(json.dumps(cases))
    cmd = [sys.executable, "-m", "pyxmtp", "mls", "vectors"]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{good}: 10/10 passed"
    failed = subprocess.run([*cmd, str(good), str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert lines[1] == f"{bad}: 9/10 passed" and lines[2].startswith("  case 0: VectorMismatch: root")


def _passive_case_with_a_later_key_package() -> dict[str, object]:
    """A passive-client case made by our own engine: the passive member's key package is valid from T, a later
    epoch adds a member whose key package is valid only from T + 1 (made a second later)."""
    suite, t, rng = get_suite(3), 1_700_000_000, os.urandom
    config = GroupConfig(wire_format_policy=WireFormatPolicy.PURE_PLAINTEXT)  # handshakes as the vectors have

    def key_package(name: bytes, now: int) -> tuple[KeyPackageBundle, bytes]:
        signer = suite.generate_signature_key(rng)
        lifetime = Lifetime(now, now + 3600)
        bundle = create_key_package(
            suite, signer, Credential.basic(name), rng=rng, now=now, lifetime=lifetime
        )
        return bundle, signer.to_bytes()

    passive, passive_signer = key_package(b"passive", t)
    alice = Group.create(
        suite, suite.generate_signature_key(rng), Credential.basic(b"a"), rng=rng, now=t, config=config
    )
    joined = alice.commit(add=[passive.key_package], rng=rng, now=t)
    alice.merge_pending_commit()
    initial = alice.epoch_authenticator
    later, _ = key_package(b"later", t + 1)
    epochs = []
    for staged in (alice.commit(add=[later.key_package], rng=rng, now=t + 1), None):
        if staged is None:
            staged = alice.commit(rng=rng, now=t + 2)
        alice.merge_pending_commit()
        assert staged.message is not None
        epochs.append(
            {
                "proposals": [],
                "commit": staged.message.hex(),
                "epoch_authenticator": alice.epoch_authenticator.hex(),
            }
        )
    assert joined.welcome is not None
    return {
        "cipher_suite": 3,
        "key_package": passive.key_package_message().hex(),
        "init_priv": passive.init_private_key.to_bytes().hex(),
        "encryption_priv": passive.encryption_private_key.to_bytes().hex(),
        "signature_priv": passive_signer.hex(),
        "external_psks": [],
        "welcome": joined.welcome.hex(),
        "ratchet_tree": None,
        "initial_epoch_authenticator": initial.hex(),
        "epochs": epochs,
    }


def test_passive_client_runner_has_no_clock(tmp_path: Path) -> None:
    """The vector format defines no clock: a case whose later Add carries a key package valid only from a
    second after the passive member's own passes (it failed when every epoch was replayed at the passive key
    package's not_before with lifetimes checked)."""
    path = tmp_path / "passive-client-later.json"
    path.write_text(json.dumps([_passive_case_with_a_later_key_package()]))
    result = run_file(path)
    assert result.ok, result.failures()
    cli = subprocess.run(
        [sys.executable, "-m", "pyxmtp", "mls", "vectors", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0 and cli.stdout.strip() == f"{path}: 1/1 passed"
