"""RFC 9420 Messaging Layer Security, sans-IO.

This package knows nothing of XMTP and does no I/O: time and randomness are inputs, results are bytes and
events. Submodules: :mod:`codec` (TLS presentation language), :mod:`crypto` (cipher suites, HPKE),
:mod:`tree` (tree math, ratchet tree, TreeKEM, secret tree), key schedule, framing, messages, and the group
engine.
"""
