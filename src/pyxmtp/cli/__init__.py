"""The ``pyxmtp`` command line."""
