"""RFC 9420 Messaging Layer Security, sans-IO.

This package knows nothing of XMTP and does no I/O: time (``now``, Unix seconds) and randomness (``rng``, any
``Callable[[int], bytes]`` such as :func:`os.urandom`) are inputs; results are bytes and events. What it
exports here is its public API; the submodules (:mod:`.codec`, :mod:`.crypto`, :mod:`.tree`, :mod:`.framing`,
:mod:`.messages`, :mod:`.group`, ...) are the implementation, importable but free to change.

Identities and key packages
    :func:`get_suite` gives a :class:`CipherSuite` (``SUPPORTED_SUITES``: 1 to 7); ``suite.generate_signature_key
    (rng)`` a :class:`SignaturePrivateKey` (``.to_bytes()``, ``suite.signature_key_from_bytes(...)``);
    :meth:`Credential.basic` an identity; :func:`create_key_package` a :class:`KeyPackageBundle` (publish
    ``bundle.key_package_message()``, keep ``bundle.to_bytes()`` secret until the Welcome comes;
    :func:`key_package_for_welcome` says which bundle a Welcome is for); :func:`parse_key_package_bytes` reads
    a received one (a group validates every key package it adds).
Groups
    :class:`Group`: ``create``, ``join`` (Welcome), ``join_by_external_commit`` (GroupInfo), ``commit`` and
    ``propose_*`` (with per-call ``wire_format`` and ``ratchet_tree_in_welcome``), ``create_message``
    (protect), ``process`` (unprotect; gives an :class:`ApplicationMessage`, a :class:`ProposalReceived` or a
    :class:`StagedCommit` to merge), ``export_secret``, ``group_info``, ``export_ratchet_tree``, ``to_bytes`` /
    ``from_bytes``. :class:`GroupConfig` is one member's local policy: ``XMTP_CONFIG`` (the default; handshakes
    only as PrivateMessages) or ``INTEROP_CONFIG`` (either wire format accepted). A member a commit removed
    stays readable: ``is_active`` is False and ``epoch`` / ``epoch_authenticator`` describe the last epoch it
    was in.
Errors
    Every error is an :class:`MLSError`: :class:`LocalMLSError` for misuse by the caller (:class:`StateError`,
    :class:`InvalidArgument`), :class:`RemoteMLSError` for a peer's invalid message. A failed call leaves the
    group unchanged.

Example (two members)::

    import os, time
    from pyxmtp.mls import Credential, Group, create_key_package, get_suite

    suite, now = get_suite(3), int(time.time())
    alice_key, bob_key = suite.generate_signature_key(os.urandom), suite.generate_signature_key(os.urandom)
    bob_kp = create_key_package(suite, bob_key, Credential.basic(b"bob"), rng=os.urandom, now=now)
    alice = Group.create(suite, alice_key, Credential.basic(b"alice"), rng=os.urandom, now=now)
    commit = alice.commit(add=[bob_kp.key_package_message()], rng=os.urandom, now=now)
    alice.merge_pending_commit()                          # once the delivery service accepted commit.message
    bob = Group.join(commit.welcome, bob_kp, bob_key, now=now)
    bob.process(alice.create_message(b"hi", rng=os.urandom), now=now).data   # b"hi"

``examples/mls_group.py`` is a longer one (a third member, messages, a removal).
"""

from __future__ import annotations

from .constants import WireFormat
from .crypto.keys import RandomSource, SignaturePrivateKey
from .crypto.suite import CipherSuite, get_suite
from .crypto.suites import SUPPORTED_SUITES
from .errors import (
    CryptoError,
    DecodeError,
    EncodeError,
    LocalMLSError,
    MissingKeyError,
    MLSError,
    RemoteMLSError,
    StateError,
    UnsupportedError,
    ValidationError,
    WrongEpochError,
)
from .framing.content import Sender
from .group.config import INTEROP_CONFIG, XMTP_CONFIG, GroupConfig, WireFormatPolicy
from .group.errors import (
    CommitError,
    InvalidArgument,
    MissingProposalError,
    MissingPSKError,
    OwnMessageError,
    ProposalError,
    WelcomeError,
    WireFormatError,
    WrongGroupError,
)
from .group.events import ApplicationMessage, Member, ProposalReceived
from .group.group import Group, key_package_for_welcome
from .group.process import ProcessResult
from .group.staged import StagedCommit
from .group.transitions import GroupStatus
from .key_packages import KeyPackageBundle, create_key_package, default_capabilities, parse_key_package_bytes
from .messages.credential import Credential
from .messages.extensions import Extension
from .messages.key_package import KeyPackage
from .messages.proposals import (
    Add,
    ExternalPSK,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    Remove,
    ResumptionPSK,
    Update,
)
from .tree.nodes import Capabilities, Lifetime

__all__ = [
    "INTEROP_CONFIG",
    "SUPPORTED_SUITES",
    "XMTP_CONFIG",
    "Add",
    "ApplicationMessage",
    "Capabilities",
    "CipherSuite",
    "CommitError",
    "Credential",
    "CryptoError",
    "DecodeError",
    "EncodeError",
    "Extension",
    "ExternalPSK",
    "Group",
    "GroupConfig",
    "GroupContextExtensions",
    "GroupStatus",
    "InvalidArgument",
    "KeyPackage",
    "KeyPackageBundle",
    "Lifetime",
    "LocalMLSError",
    "MLSError",
    "Member",
    "MissingKeyError",
    "MissingPSKError",
    "MissingProposalError",
    "OwnMessageError",
    "PreSharedKey",
    "PreSharedKeyID",
    "ProcessResult",
    "Proposal",
    "ProposalError",
    "ProposalReceived",
    "RandomSource",
    "RemoteMLSError",
    "Remove",
    "ResumptionPSK",
    "Sender",
    "SignaturePrivateKey",
    "StagedCommit",
    "StateError",
    "UnsupportedError",
    "Update",
    "ValidationError",
    "WelcomeError",
    "WireFormat",
    "WireFormatError",
    "WireFormatPolicy",
    "WrongEpochError",
    "WrongGroupError",
    "create_key_package",
    "default_capabilities",
    "get_suite",
    "key_package_for_welcome",
    "parse_key_package_bytes",
]
