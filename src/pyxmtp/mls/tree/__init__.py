"""Ratchet trees: array-based tree math, the ratchet tree, TreeKEM and the secret tree (RFC 9420 sections 4-9)."""
