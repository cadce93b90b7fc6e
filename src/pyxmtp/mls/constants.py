"""Code points of RFC 9420 (section 17, IANA registries) and the few extension-draft values XMTP uses.

Closed enumerations (content type, sender type, wire format, leaf-node source, PSK type, ...) are
:class:`~enum.IntEnum` and decoding rejects values outside them. Open registries (extension, proposal and
credential types, cipher suites, protocol versions inside capabilities) are stored as plain ``int`` in the wire
structs so that unknown and GREASE values survive a decode/encode round trip; the enums below only name the
values this implementation knows.
"""

from __future__ import annotations

from enum import IntEnum


class ProtocolVersion(IntEnum):
    mls10 = 1


class ContentType(IntEnum):
    application = 1
    proposal = 2
    commit = 3


class SenderType(IntEnum):
    member = 1
    external = 2
    new_member_proposal = 3
    new_member_commit = 4


class WireFormat(IntEnum):
    public_message = 1
    private_message = 2
    welcome = 3
    group_info = 4
    key_package = 5


class ProposalType(IntEnum):
    """RFC 9420 proposal types (1-7) plus two from draft-ietf-mls-extensions that OpenMLS (and so XMTP) uses."""

    add = 1
    update = 2
    remove = 3
    psk = 4
    reinit = 5
    external_init = 6
    group_context_extensions = 7
    app_data_update = 0x0008  # draft-ietf-mls-extensions; XMTP "migrated" groups (XIP-81)
    self_remove = 0x000A  # draft-ietf-mls-extensions; empty body


class ExtensionType(IntEnum):
    application_id = 1
    ratchet_tree = 2
    required_capabilities = 3
    external_pub = 4
    external_senders = 5
    app_data_dictionary = 0x0006  # draft-ietf-mls-extensions; XMTP migrated groups
    last_resort = 0x000A  # draft-ietf-mls-extensions (last-resort key packages)


class CredentialType(IntEnum):
    basic = 1
    x509 = 2


class LeafNodeSource(IntEnum):
    key_package = 1
    update = 2
    commit = 3


class NodeType(IntEnum):
    leaf = 1
    parent = 2


class ProposalOrRefType(IntEnum):
    proposal = 1
    reference = 2


class PSKType(IntEnum):
    external = 1
    resumption = 2


class ResumptionPSKUsage(IntEnum):
    application = 1
    reinit = 2
    branch = 3


#: Proposal types a client supports without listing them in its capabilities (RFC 9420 section 7.2).
DEFAULT_PROPOSAL_TYPES = frozenset(range(1, 8))
#: Extension types a client supports without listing them in its capabilities (RFC 9420 section 7.2).
DEFAULT_EXTENSION_TYPES = frozenset(range(1, 6))

#: RFC 9420 section 13.5: the fifteen GREASE code points 0x0A0A, 0x1A1A, ..., 0xEAEA.
GREASE_VALUES = frozenset(0x0A0A + 0x1010 * i for i in range(15))


def is_grease(value: int) -> bool:
    """Whether ``value`` is one of the reserved GREASE code points (RFC 9420 section 13.5)."""
    return value in GREASE_VALUES
