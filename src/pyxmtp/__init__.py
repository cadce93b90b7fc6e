"""pyxmtp: pure-Python XMTP (RFC 9420 MLS, XIP-46 identity, a v3 node, client SDK and CLI)."""

__version__ = "0.1.0"
