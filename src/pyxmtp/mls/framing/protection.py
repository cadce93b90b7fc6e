"""Message protection (RFC 9420 sections 6.1-6.3): content signatures, membership tags, PublicMessage and
PrivateMessage protect / unprotect.

Group context. Functions that need the GroupContext take it either as a :class:`GroupContext` or as its
encoded bytes (pass the bytes on hot paths; the group engine keeps them for the key schedule anyway). It is
only used in the signature (member and new_member_commit senders) and the membership tag.

Sending::

    ac = authenticate(suite, signing_key, WireFormat.private_message, content, group_context)
    msg = protect_private(suite, ac, secret_tree, epoch.sender_data_secret, rng, padding=pad_to_multiple(32))
    # or, for a PublicMessage:  protect_public(suite, ac, group_context, epoch.membership_key)

Application data has a one-pass equivalent, :func:`protect_application` (sign, encrypt and encode the MLSMessage
from the raw fields, without the intermediate objects); on receipt :meth:`OpenedPrivateMessage.verify` checks
its signature the same way.

A commit's AuthenticatedContent needs the confirmation tag, which depends on the signature: call
:func:`sign_content`, compute the transcript hash / key schedule / tag, then build
``AuthenticatedContent(wf, content, FramedContentAuthData(signature, tag))``.

Receiving a PrivateMessage is two-phase so that a message that fails any check leaves the secret tree
unchanged::

    opened = unprotect_private(suite, msg, secret_tree, epoch.sender_data_secret)   # decrypts, no state change
    # caller: check opened.leaf_index is a non-blank leaf, get its signature key from the ratchet tree
    verify_content(suite, signature_public_key, opened.content, group_context)     # InvalidSignature
    opened.commit()          # consumes the ratchet generation: the key is deleted, replays now fail

Receiving a PublicMessage: :func:`unprotect_public` checks the membership tag of member senders; the caller
then verifies the signature with :func:`verify_content` (the sender's key comes from the tree or the
external_senders extension, which this module does not know).

Errors: :class:`~pyxmtp.mls.errors.DecryptError` (sender data or content does not decrypt),
:class:`~pyxmtp.mls.errors.DecodeError` (plaintext does not parse, non-zero padding),
:class:`~pyxmtp.mls.errors.MissingKeyError` / :class:`~pyxmtp.mls.tree.secret_tree.TooDistantInFutureError` /
:class:`~pyxmtp.mls.errors.ValidationError` from the secret tree, :class:`InvalidMembershipTag`,
:class:`~pyxmtp.mls.errors.InvalidSignature`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from ..codec import Writer, encode_varint
from ..constants import ContentType, ProtocolVersion, SenderType, WireFormat
from ..crypto import CipherSuite, RandomSource, SignaturePrivateKey
from ..errors import CryptoError, DecodeError, DecryptError, EncodeError, LocalMLSError
from ..messages.group_info import GroupContext
from ..tree.secret_tree import RatchetType, SecretTree, StagedKey
from .content import (
    AuthenticatedContent,
    ContentBody,
    FramedContent,
    FramedContentAuthData,
    Sender,
    encode_content_body,
)
from .messages import PrivateMessage, PrivateMessageContent, PublicMessage
from .sender_data import sender_data_cipher

__all__ = [
    "InvalidMembershipTag",
    "OpenedPrivateMessage",
    "PaddingPolicy",
    "authenticate",
    "content_tbs",
    "membership_tag",
    "no_padding",
    "pad_to_multiple",
    "protect_application",
    "protect_private",
    "protect_public",
    "random_padding",
    "sign_content",
    "unprotect_private",
    "unprotect_public",
    "verify_content",
]

_MEMBER = SenderType.member
_NEW_MEMBER_COMMIT = SenderType.new_member_commit
_VERSION = ProtocolVersion.mls10.to_bytes(2, "big")
_TBS_LABEL = "FramedContentTBS"
# mls10 and private_message: the start of a PrivateMessage's FramedContentTBS and of its MLSMessage
_PRIVATE_HEADER = _VERSION + WireFormat.private_message.to_bytes(2, "big")
_SIGN_LABEL = encode_varint(len(b"MLS 1.0 " + _TBS_LABEL.encode())) + b"MLS 1.0 " + _TBS_LABEL.encode()
_REUSE_GUARD_LEN = 4
_APPLICATION = ContentType.application
_APPLICATION_RATCHET = RatchetType.application
_HANDSHAKE_RATCHET = RatchetType.handshake
_PRIVATE = WireFormat.private_message


class InvalidMembershipTag(CryptoError):
    """A member's PublicMessage has a membership tag that does not verify under the epoch's membership key."""


GroupContextArg = GroupContext | bytes


def _context_bytes(context: GroupContextArg) -> bytes:
    if isinstance(context, bytes):
        return context
    w = Writer()
    context.encode(w)
    return w.getvalue()


# --- signatures ------------------------------------------------------------------------------------------------
def content_tbs(
    wire_format: WireFormat, content: FramedContent, group_context: GroupContextArg | None
) -> bytes:
    """FramedContentTBS. ``group_context`` is required for member and new_member_commit senders and ignored
    otherwise."""
    return b"".join(_tbs_parts(wire_format, content, group_context))


def _tbs_parts(
    wire_format: WireFormat, content: FramedContent, group_context: GroupContextArg | None
) -> list[bytes]:
    """The pieces of FramedContentTBS, in order (joined by the callers)."""
    parts = [_VERSION, _u16(wire_format), *_framed_content_parts(content)]
    t = content.sender.sender_type
    if t is _MEMBER or t is _NEW_MEMBER_COMMIT:
        if group_context is None:
            raise LocalMLSError(f"FramedContentTBS of a {t.name} sender needs the group context")
        parts.append(_context_bytes(group_context))
    return parts


def _sign_content(
    wire_format: WireFormat, content: FramedContent, group_context: GroupContextArg | None
) -> bytes:
    """``SignContent {opaque label<V> = "MLS 1.0 FramedContentTBS"; opaque content<V> = FramedContentTBS}``:
    the bytes the content signature covers (what ``SignWithLabel`` builds), joined in one go."""
    parts = _tbs_parts(wire_format, content, group_context)
    return b"".join((_SIGN_LABEL, encode_varint(sum(map(len, parts))), *parts))


def _u16(value: int) -> bytes:
    try:
        return value.to_bytes(2, "big")
    except OverflowError:
        raise EncodeError(f"value {value} does not fit in uint16") from None


def _framed_content_parts(content: FramedContent) -> tuple[bytes, ...]:
    """``FramedContent`` bytes, in pieces; a member's application content (the hot path) is not encoded
    through a :class:`Writer`."""
    body = content.body
    sender = content.sender
    if type(body) is bytes and sender.sender_type is _MEMBER:
        return _application_parts(
            content.group_id, content.epoch, sender.index, content.authenticated_data, body
        )
    w = Writer()
    content.encode(w)
    return (w.getvalue(),)


def _application_parts(
    group_id: bytes, epoch: int, leaf_index: int, authenticated_data: bytes, data: bytes
) -> tuple[bytes, ...]:
    """The ``FramedContent`` of a member's application data, in pieces."""
    try:
        epoch_bytes = epoch.to_bytes(8, "big")
        leaf = leaf_index.to_bytes(4, "big")
    except OverflowError:
        raise EncodeError(f"epoch {epoch} or leaf index {leaf_index} out of range") from None
    return (
        encode_varint(len(group_id)),
        group_id,
        epoch_bytes,
        b"\x01",  # SenderType.member
        leaf,
        encode_varint(len(authenticated_data)),
        authenticated_data,
        b"\x01",  # ContentType.application
        encode_varint(len(data)),
        data,
    )


def _application_sign_content(
    group_id: bytes, epoch: int, leaf_index: int, authenticated_data: bytes, data: bytes, group_context: bytes
) -> bytes:
    """:func:`_sign_content` of a member's application data in a PrivateMessage, from the raw fields."""
    parts = _application_parts(group_id, epoch, leaf_index, authenticated_data, data)
    size = 4 + len(group_context) + sum(map(len, parts))  # 4: version and wire format
    return b"".join((_SIGN_LABEL, encode_varint(size), _PRIVATE_HEADER, *parts, group_context))


def sign_content(
    suite: CipherSuite,
    signature_key: SignaturePrivateKey,
    wire_format: WireFormat,
    content: FramedContent,
    group_context: GroupContextArg | None,
) -> bytes:
    """``SignWithLabel(signature_key, "FramedContentTBS", FramedContentTBS)``."""
    return suite.sign(signature_key, _sign_content(wire_format, content, group_context))


def authenticate(
    suite: CipherSuite,
    signature_key: SignaturePrivateKey,
    wire_format: WireFormat,
    content: FramedContent,
    group_context: GroupContextArg | None,
    confirmation_tag: bytes | None = None,
) -> AuthenticatedContent:
    """Sign ``content`` into an AuthenticatedContent. ``confirmation_tag`` is required iff ``content`` is a
    commit (see the module docstring for the commit order)."""
    auth = FramedContentAuthData(
        sign_content(suite, signature_key, wire_format, content, group_context), confirmation_tag
    )
    auth.check_for(content.content_type)
    return AuthenticatedContent(wire_format, content, auth)


def verify_content(
    suite: CipherSuite,
    signature_public_key: bytes,
    content: AuthenticatedContent,
    group_context: GroupContextArg | None,
) -> None:
    """Verify the content signature; raises :class:`~pyxmtp.mls.errors.InvalidSignature` unless valid."""
    suite.verify(
        signature_public_key,
        _sign_content(content.wire_format, content.content, group_context),
        content.auth.signature,
    )


# --- PublicMessage ---------------------------------------------------------------------------------------------
def membership_tag(
    suite: CipherSuite, membership_key: bytes, content: AuthenticatedContent, group_context: GroupContextArg
) -> bytes:
    """``MAC(membership_key, AuthenticatedContentTBM)`` with TBM = FramedContentTBS || FramedContentAuthData."""
    w = Writer()
    w.fixed(content_tbs(WireFormat.public_message, content.content, group_context))
    content.auth.encode(w)
    return suite.mac(membership_key, w.getvalue())


def protect_public(
    suite: CipherSuite,
    content: AuthenticatedContent,
    group_context: GroupContextArg | None,
    membership_key: bytes | None,
) -> PublicMessage:
    """A PublicMessage; member senders get a membership tag (``membership_key`` and ``group_context``
    required), other senders none."""
    if content.wire_format != WireFormat.public_message:
        raise LocalMLSError("content was signed for a PrivateMessage, not a PublicMessage")
    content.auth.check_for(content.content.content_type)
    if content.content.sender.sender_type is not _MEMBER:
        return PublicMessage(content.content, content.auth, None)
    if membership_key is None or group_context is None:
        raise LocalMLSError("a member's PublicMessage needs the membership key and the group context")
    return PublicMessage(
        content.content, content.auth, membership_tag(suite, membership_key, content, group_context)
    )


def unprotect_public(
    suite: CipherSuite,
    message: PublicMessage,
    group_context: GroupContextArg | None,
    membership_key: bytes | None,
) -> AuthenticatedContent:
    """The AuthenticatedContent of a PublicMessage after checking a member sender's membership tag
    (:class:`InvalidMembershipTag`). The signature is NOT verified here: call :func:`verify_content`."""
    content = message.authenticated_content()
    if message.content.sender.sender_type is _MEMBER:
        if membership_key is None or group_context is None:
            raise LocalMLSError("checking a membership tag needs the membership key and the group context")
        want = membership_tag(suite, membership_key, content, group_context)
        if message.membership_tag is None or not hmac.compare_digest(want, message.membership_tag):
            raise InvalidMembershipTag("membership tag does not verify")
    return content


# --- padding ---------------------------------------------------------------------------------------------------
PaddingPolicy = Callable[[int, RandomSource], int]
"""``policy(length, rng) -> number of zero bytes to append`` to a PrivateMessageContent, where ``length`` is the
ciphertext length the message would have without padding (unpadded PrivateMessageContent + AEAD tag)."""


def no_padding(length: int, rng: RandomSource) -> int:
    return 0


def pad_to_multiple(block: int) -> PaddingPolicy:
    """Pad so that the content ciphertext (PrivateMessageContent + AEAD tag) is a multiple of ``block`` bytes,
    as OpenMLS's ``padding_size`` does."""
    if block < 1:
        raise LocalMLSError(f"padding block must be positive, got {block}")

    def policy(length: int, rng: RandomSource) -> int:
        return -length % block

    return policy


def random_padding(max_bytes: int) -> PaddingPolicy:
    """Between 0 and ``max_bytes`` (inclusive) zero bytes, drawn uniformly from ``rng``."""
    if not 0 <= max_bytes < 1 << 16:
        raise LocalMLSError(f"max padding {max_bytes} out of range")

    def policy(length: int, rng: RandomSource) -> int:
        if max_bytes == 0:
            return 0
        limit = (1 << 32) // (max_bytes + 1) * (max_bytes + 1)  # rejection sampling, no modulo bias
        while True:
            x = int.from_bytes(rng(4), "big")
            if x < limit:
                return x % (max_bytes + 1)

    return policy


# --- PrivateMessage --------------------------------------------------------------------------------------------
def _aads(group_id: bytes, epoch: int, content_type: int, authenticated_data: bytes) -> tuple[bytes, bytes]:
    """``(SenderDataAAD, PrivateContentAAD)``: the second extends the first with the authenticated data."""
    try:
        sender_aad = (
            encode_varint(len(group_id)) + group_id + epoch.to_bytes(8, "big") + bytes((content_type,))
        )
    except OverflowError:
        raise EncodeError(f"epoch {epoch} does not fit in uint64") from None
    return sender_aad, sender_aad + encode_varint(len(authenticated_data)) + authenticated_data


def _guard_nonce(nonce: bytes, reuse_guard: bytes) -> bytes:
    head = int.from_bytes(nonce[:4], "big") ^ int.from_bytes(reuse_guard, "big")
    return head.to_bytes(4, "big") + nonce[4:]


def protect_private(
    suite: CipherSuite,
    content: AuthenticatedContent,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    rng: RandomSource,
    padding: PaddingPolicy = no_padding,
) -> PrivateMessage:
    """Encrypt member content (signed for ``WireFormat.private_message``) with the next generation of the
    sender's ratchet, consuming it. ``rng`` supplies the 4-byte reuse guard and feeds ``padding``."""
    if content.wire_format != WireFormat.private_message:
        raise LocalMLSError("content was signed for a PublicMessage, not a PrivateMessage")
    framed = content.content
    sender = framed.sender
    if sender.sender_type is not _MEMBER:
        raise LocalMLSError(f"only members send PrivateMessages, not a {sender.sender_type.name} sender")
    content_type = framed.content_type
    content.auth.check_for(content_type)
    body = framed.body
    if type(body) is bytes:
        signature = content.auth.signature
        plaintext = encode_varint(len(body)) + body + encode_varint(len(signature)) + signature
    else:
        w = Writer()
        encode_content_body(w, body)
        content.auth.encode(w)
        plaintext = w.getvalue()
    pad = padding(len(plaintext) + suite.aead_tag_len, rng)
    if pad:
        plaintext += bytes(pad)

    reuse_guard = rng(_REUSE_GUARD_LEN)
    if len(reuse_guard) != _REUSE_GUARD_LEN:
        raise LocalMLSError(f"random source returned {len(reuse_guard)} bytes, asked for {_REUSE_GUARD_LEN}")
    generation, key, nonce = secret_tree.next_key(sender.index, RatchetType.for_content(content_type))
    group_id, epoch, ad = framed.group_id, framed.epoch, framed.authenticated_data
    sender_aad, content_aad = _aads(group_id, epoch, content_type, ad)
    cipher = sender_data_cipher(suite)
    ciphertext = cipher.new_aead(key).encrypt(_guard_nonce(nonce, reuse_guard), plaintext, content_aad)
    encrypted_sender_data = cipher.seal(
        sender_data_secret, sender_aad, sender.index, generation, reuse_guard, ciphertext
    )
    return PrivateMessage(group_id, epoch, content_type, ad, encrypted_sender_data, ciphertext)


def protect_application(
    suite: CipherSuite,
    signature_key: SignaturePrivateKey,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    rng: RandomSource,
    *,
    group_id: bytes,
    epoch: int,
    leaf_index: int,
    group_context: bytes,
    authenticated_data: bytes,
    data: bytes,
    padding: PaddingPolicy = no_padding,
) -> bytes:
    """A member's application message as MLSMessage bytes, built in one pass from the raw fields (the
    application-message hot path). The same bytes, for the same ``rng`` output, as :func:`authenticate`,
    :func:`protect_private` and ``encode(MLSMessage(...))`` in turn; ``group_context`` is the encoded
    GroupContext. Consumes the next generation of our application ratchet."""
    signature = suite.sign(
        signature_key,
        _application_sign_content(group_id, epoch, leaf_index, authenticated_data, data, group_context),
    )
    body_len = encode_varint(len(data))
    plaintext = b"".join((body_len, data, encode_varint(len(signature)), signature))
    pad = padding(len(plaintext) + suite.aead_tag_len, rng)
    if pad:
        plaintext += bytes(pad)
    reuse_guard = rng(_REUSE_GUARD_LEN)
    if len(reuse_guard) != _REUSE_GUARD_LEN:
        raise LocalMLSError(f"random source returned {len(reuse_guard)} bytes, asked for {_REUSE_GUARD_LEN}")
    generation, key, nonce = secret_tree.next_key(leaf_index, _APPLICATION_RATCHET)
    sender_aad, content_aad = _aads(group_id, epoch, _APPLICATION, authenticated_data)
    cipher = sender_data_cipher(suite)
    ciphertext = cipher.new_aead(key).encrypt(_guard_nonce(nonce, reuse_guard), plaintext, content_aad)
    encrypted_sender_data = cipher.seal(
        sender_data_secret, sender_aad, leaf_index, generation, reuse_guard, ciphertext
    )
    # MLSMessage {mls10, private_message, PrivateMessage}; SenderDataAAD is the PrivateMessage's first fields
    return b"".join(
        (
            _PRIVATE_HEADER,
            sender_aad,
            encode_varint(len(authenticated_data)),
            authenticated_data,
            encode_varint(len(encrypted_sender_data)),
            encrypted_sender_data,
            encode_varint(len(ciphertext)),
            ciphertext,
        )
    )


class OpenedPrivateMessage:
    """A decrypted PrivateMessage whose ratchet generation is not consumed yet.

    ``content`` is the AuthenticatedContent (wire format private_message, member sender ``leaf_index``; built
    on first access), ``body`` its body, ``generation`` and ``reuse_guard`` come from the sender data,
    ``padding`` is the number of zero padding bytes. Verify the signature (:meth:`verify`, or
    :func:`verify_content` on ``content``) and that ``leaf_index`` is a non-blank leaf, then call :meth:`commit`;
    on any failure drop the object and the secret tree is as before.
    """

    __slots__ = (
        "_auth",
        "_content",
        "_message",
        "_staged",
        "body",
        "generation",
        "leaf_index",
        "padding",
        "reuse_guard",
    )

    def __init__(
        self,
        message: PrivateMessage,
        body: ContentBody,
        auth: FramedContentAuthData,
        leaf_index: int,
        generation: int,
        reuse_guard: bytes,
        padding: int,
        staged: StagedKey,
    ) -> None:
        self._message = message
        self.body = body
        self._auth = auth
        self.leaf_index = leaf_index
        self.generation = generation
        self.reuse_guard = reuse_guard
        self.padding = padding
        self._staged = staged
        self._content: AuthenticatedContent | None = None

    @property
    def content(self) -> AuthenticatedContent:
        content = self._content
        if content is None:
            m = self._message
            framed = FramedContent(
                m.group_id, m.epoch, Sender(_MEMBER, self.leaf_index), m.authenticated_data, self.body
            )
            content = self._content = AuthenticatedContent(_PRIVATE, framed, self._auth)
        return content

    @property
    def signature(self) -> bytes:
        return self._auth.signature

    def __repr__(self) -> str:
        return (
            f"<OpenedPrivateMessage leaf={self.leaf_index} generation={self.generation} "
            f"{ContentType(self._message.content_type).name}>"
        )

    def verify(self, suite: CipherSuite, signature_public_key: bytes, group_context: GroupContextArg) -> None:
        """:func:`verify_content` of :attr:`content` (for application data without building it)."""
        body = self.body
        if type(body) is bytes:
            m = self._message
            suite.verify(
                signature_public_key,
                _application_sign_content(
                    m.group_id,
                    m.epoch,
                    self.leaf_index,
                    m.authenticated_data,
                    body,
                    _context_bytes(group_context),
                ),
                self._auth.signature,
            )
            return
        verify_content(suite, signature_public_key, self.content, group_context)

    def commit(self) -> None:
        """Consume the generation in the secret tree (its key is deleted; a replay then fails with
        :class:`~pyxmtp.mls.errors.MissingKeyError`). :class:`~pyxmtp.mls.errors.StateError` if the ratchet
        moved since the message was opened, or if already committed."""
        self._staged.commit()


def unprotect_private(
    suite: CipherSuite, message: PrivateMessage, secret_tree: SecretTree, sender_data_secret: bytes
) -> OpenedPrivateMessage:
    """Decrypt a PrivateMessage with the secret tree and sender-data secret of its epoch (the caller picks the
    epoch from ``message.epoch``; AAD binds group id, epoch and content type). Does not change the tree: see
    :class:`OpenedPrivateMessage`."""
    content_type = message.content_type
    ciphertext = message.ciphertext
    sender_aad, content_aad = _aads(message.group_id, message.epoch, content_type, message.authenticated_data)
    cipher = sender_data_cipher(suite)
    leaf, generation, reuse_guard = cipher.open(
        sender_data_secret, sender_aad, message.encrypted_sender_data, ciphertext
    )
    application = content_type == _APPLICATION
    staged = secret_tree.stage(leaf, _APPLICATION_RATCHET if application else _HANDSHAKE_RATCHET, generation)
    try:
        plaintext = cipher.new_aead(staged.key).decrypt(
            _guard_nonce(staged.nonce, reuse_guard), ciphertext, content_aad
        )
    except InvalidTag:
        raise DecryptError(f"{cipher.name}: authentication tag does not verify") from None
    body: ContentBody
    if application:
        body, auth, padding = _parse_application_content(plaintext)
    else:
        inner = PrivateMessageContent.from_bytes(plaintext, ContentType(content_type))
        body, auth, padding = inner.body, inner.auth, inner.padding
    return OpenedPrivateMessage(message, body, auth, leaf, generation, reuse_guard, padding, staged)


def _parse_application_content(plaintext: bytes) -> tuple[bytes, FramedContentAuthData, int]:
    """PrivateMessageContent of application data: ``(application_data, auth, padding length)``."""
    body, pos = _opaque_at(plaintext, 0)
    signature, pos = _opaque_at(plaintext, pos)
    padding = len(plaintext) - pos
    if padding and plaintext.count(0, pos) != padding:
        raise DecodeError("PrivateMessageContent", pos, "padding contains a non-zero byte")
    return body, FramedContentAuthData(signature), padding


def _opaque_at(data: bytes, pos: int) -> tuple[bytes, int]:
    """``opaque<V>`` at ``pos`` (minimal varint length, as :meth:`Reader.varint`) and the position after it."""
    n = len(data)
    if pos >= n:
        raise DecodeError("PrivateMessageContent", pos, "need variable-length integer, 0 bytes left")
    first = data[pos]
    prefix = first >> 6
    if prefix == 0:
        length, start = first, pos + 1
    elif prefix == 3:
        raise DecodeError("PrivateMessageContent", pos, "invalid variable-length integer prefix 0b11")
    else:
        size = 1 << prefix
        start = pos + size
        if start > n:
            raise DecodeError("PrivateMessageContent", pos, "truncated variable-length integer")
        length = int.from_bytes(data[pos:start], "big") & ((1 << (8 * size - 2)) - 1)
        if length < 1 << (4 * size - 2):
            raise DecodeError("PrivateMessageContent", pos, f"non-minimal variable-length integer {length}")
    end = start + length
    if end > n:
        raise DecodeError(
            "PrivateMessageContent", pos, f"vector length {length} exceeds the {n - start} bytes left"
        )
    return data[start:end], end
