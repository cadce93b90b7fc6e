"""Fixtures for the CLI tests that need a node: the real pyxmtp node of the client tests."""

from __future__ import annotations

from tests.client.conftest import node

__all__ = ["node"]
