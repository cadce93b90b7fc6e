"""RFC 9420 wire structures of the MLS core: credentials, extensions, key packages, proposals, commits,
group info and welcomes (one module each). Framing (PublicMessage, PrivateMessage, MLSMessage) is in
:mod:`pyxmtp.mls.framing`; leaf, parent and ratchet-tree nodes are in :mod:`pyxmtp.mls.tree.nodes`.

Every struct is a frozen, slotted dataclass with ``encode(w)`` / ``decode(r)`` (see :mod:`pyxmtp.mls.codec`).
Decoding only parses: it raises :class:`~pyxmtp.mls.errors.DecodeError` for bytes that are not the structure,
and leaves every semantic check (signatures, capabilities, lifetimes, uniqueness) to the layers above.

This package re-exports nothing (its modules import :mod:`pyxmtp.mls.tree.nodes`, which imports
:mod:`.extensions`); import from the submodules.
"""
