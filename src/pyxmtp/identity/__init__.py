"""XMTP identity (XIP-46): wallets, inboxes, identity updates and association state."""
