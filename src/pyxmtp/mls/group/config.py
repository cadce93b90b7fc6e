"""Group configuration: the local policy knobs of one member's view of a group.

None of this is on the wire; two members of the same group may use different settings (except that a member
whose policy refuses the other's wire format will reject its messages). The configuration is part of the
serialized group state and can be replaced when the state is restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..codec import Reader, Writer
from ..constants import WireFormat
from ..errors import LocalMLSError


class WireFormatPolicy(IntEnum):
    """Which wire formats handshake messages use, outgoing and incoming (after OpenMLS's ``WireFormatPolicy``).

    Application messages are always PrivateMessages (RFC 9420 section 6.2). ``PURE_CIPHERTEXT`` (XMTP) sends and
    accepts only PrivateMessages; ``PURE_PLAINTEXT`` sends and accepts handshake messages only as
    PublicMessages; the ``MIXED_*`` policies accept both and send as named. Messages that RFC 9420 requires to be
    public (from external senders and new members) are always accepted as PublicMessages.
    """

    PURE_CIPHERTEXT = 1
    PURE_PLAINTEXT = 2
    MIXED_CIPHERTEXT = 3
    MIXED_PLAINTEXT = 4

    @property
    def outgoing(self) -> WireFormat:
        """The wire format of the handshake messages we send as a member."""
        if self in (WireFormatPolicy.PURE_CIPHERTEXT, WireFormatPolicy.MIXED_CIPHERTEXT):
            return WireFormat.private_message
        return WireFormat.public_message

    def accepts_handshake(self, wire_format: WireFormat) -> bool:
        """Whether a member's proposal or commit may arrive in ``wire_format``."""
        if self is WireFormatPolicy.PURE_CIPHERTEXT:
            return wire_format is WireFormat.private_message
        if self is WireFormatPolicy.PURE_PLAINTEXT:
            return wire_format is WireFormat.public_message
        return True


#: Seconds a new key package is valid before ``now`` (clock skew margin) and after it.
DEFAULT_LIFETIME_MARGIN = 3600
DEFAULT_LIFETIME = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Local policy of a group member.

    ``wire_format_policy``
        see :class:`WireFormatPolicy` (XMTP: ``PURE_CIPHERTEXT``).
    ``max_past_epochs``
        how many epochs before the current one keep their message secrets, so that late application messages
        still decrypt (XMTP: 3), and their resumption PSKs. Older epoch secrets are deleted.
    ``out_of_order_tolerance``
        per sender ratchet, how many skipped generations keep their keys (RFC 9420 section 9.2).
    ``max_forward_distance``
        how far ahead of the current generation a message may be (larger jumps are rejected).
    ``padding_block``
        PrivateMessage content is zero-padded to a multiple of this many bytes (0: no padding).
    ``use_ratchet_tree_extension``
        put the ratchet tree in the GroupInfo of Welcomes (otherwise the tree is delivered out of band).
    ``external_pub_in_group_info``
        include the external_pub extension in exported GroupInfos by default (enables external commits).
    ``check_received_lifetimes``
        hold the key_package leaves a peer sends (the key packages of Adds in its commits and proposals, the
        leaves of the ratchet tree a Welcome or GroupInfo gives) to their lifetime at ``now`` and to the
        maximum lifetime range (RFC 9420 7.2, 7.3; ``lifetime`` and ``lifetime_range`` errors). RFC 9420 7.3
        recommends these checks "if it is feasible in a given application context": an Add may be processed
        long after it was made, and a tree keeps the leaves of members who never updated. Our own Adds are
        always checked (the RFC requires it before sending).
    ``max_lifetime_range``
        the longest lifetime range (``not_after - not_before``, seconds) a checked key_package leaf may have:
        RFC 9420 7.2 asks the application to define one ("reject any LeafNode where the total lifetime is
        longer"). None, the default, allows any, as OpenMLS does (other implementations make key packages that
        never expire).
    """

    wire_format_policy: WireFormatPolicy = WireFormatPolicy.PURE_CIPHERTEXT
    max_past_epochs: int = 3
    out_of_order_tolerance: int = 5
    max_forward_distance: int = 1000
    padding_block: int = 0
    use_ratchet_tree_extension: bool = True
    external_pub_in_group_info: bool = True
    check_received_lifetimes: bool = True
    max_lifetime_range: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_past_epochs",
            "out_of_order_tolerance",
            "max_forward_distance",
            "padding_block",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF:
                raise LocalMLSError(f"GroupConfig.{name} must be an int in [0, 2^32), got {value!r}")
        limit = self.max_lifetime_range
        if limit is not None and (not isinstance(limit, int) or not 0 <= limit < 2**64):
            raise LocalMLSError(
                f"GroupConfig.max_lifetime_range must be None or an int in [0, 2^64), got {limit!r}"
            )

    def encode(self, w: Writer) -> None:
        w.u8(self.wire_format_policy)
        w.u32(self.max_past_epochs)
        w.u32(self.out_of_order_tolerance)
        w.u32(self.max_forward_distance)
        w.u32(self.padding_block)
        w.bool(self.use_ratchet_tree_extension)
        w.bool(self.external_pub_in_group_info)
        w.bool(self.check_received_lifetimes)
        w.optional(self.max_lifetime_range, Writer.u64)

    @classmethod
    def decode(cls, r: Reader, *, state_format: int = 2) -> GroupConfig:
        """The configuration as :meth:`encode` writes it (``state_format`` 1, the first group-state format, had
        no ``max_lifetime_range``)."""
        with r.structure("GroupConfig"):
            start = r.pos
            try:
                policy = WireFormatPolicy(r.u8())
            except ValueError:
                raise r.error("unknown wire format policy", start) from None
            return cls(
                policy,
                max_past_epochs=r.u32(),
                out_of_order_tolerance=r.u32(),
                max_forward_distance=r.u32(),
                padding_block=r.u32(),
                use_ratchet_tree_extension=r.bool(),
                external_pub_in_group_info=r.bool(),
                check_received_lifetimes=r.bool(),
                max_lifetime_range=r.optional(Reader.u64) if state_format >= 2 else None,
            )


XMTP_CONFIG = GroupConfig(check_received_lifetimes=False)
"""The MLS settings XMTP uses (everything as PrivateMessage, 3 past epochs), and libxmtp's lifetime policy: a
received key package's lifetime is not checked (in Adds or in a Welcome's tree), so that a member who syncs
weeks late, or a peer whose key package has an odd lifetime, does not leave the group behind. (The bound on
lifetime ranges is the XMTP application's: :mod:`pyxmtp.conversations` sets it.)"""

INTEROP_CONFIG = GroupConfig(wire_format_policy=WireFormatPolicy.MIXED_CIPHERTEXT)
"""For groups with other MLS implementations: handshake messages are accepted in both wire formats (sent as
PrivateMessages unless a call says ``wire_format=WireFormat.public_message``); RFC 9420's lifetime checks on."""
