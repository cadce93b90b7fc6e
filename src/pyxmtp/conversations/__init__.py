"""XMTP's conversation layer on top of the MLS core: the XMTP credential, key-package rules, and (later) groups."""
