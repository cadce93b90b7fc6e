"""The IETF MLS interop harness's client service for pyxmtp (mlswg/mls-implementations, ``interop/``).

``pyxmtp mls interop-server --port P`` serves the harness's MLSClient gRPC service
(:mod:`pyxmtp.proto.mls_client`) so that its test-runner can drive pyxmtp against OpenMLS, mls-rs, MLS++ and
the rest. :mod:`.client` is the MLS side (pyxmtp's public MLS API behind numbered states), :mod:`.server` the
gRPC side. Served: the calls of the welcome-join, application, commit and external-join scenarios, and the key
package private keys that turn their transcripts into passive-client vectors. Not served (UNIMPLEMENTED):
reinit, branch, and external proposals (new-member Add proposals, external senders).

This package does I/O (a gRPC server) and sits above :mod:`pyxmtp.mls`, which does none.
"""

from __future__ import annotations

from .client import InteropClient, InteropError, ProposalSpec
from .server import NOT_SERVED, MLSClientService, start_server

__all__ = ["NOT_SERVED", "InteropClient", "InteropError", "MLSClientService", "ProposalSpec", "start_server"]
