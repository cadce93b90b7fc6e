"""The sans-IO MLS group engine (RFC 9420 sections 11-12): create, join, commit, process, merge.

Start with :class:`~.group.Group`. Modules: :mod:`.config` (local policy), :mod:`.transitions` (the lifecycle
table), :mod:`.state` / :mod:`.epoch` (serializable state), :mod:`.proposals` (validation and application),
:mod:`.proposal_store` (the by-reference cache), :mod:`.commit_builder`, :mod:`.process`, :mod:`.staged`,
:mod:`.welcome`, :mod:`.external`, :mod:`.events`, :mod:`.errors`.
"""

from __future__ import annotations

from .config import INTEROP_CONFIG, XMTP_CONFIG, GroupConfig, WireFormatPolicy
from .events import ApplicationMessage, Member, ProposalReceived
from .group import Group, key_package_for_welcome
from .staged import StagedCommit
from .transitions import GroupStatus

__all__ = [
    "INTEROP_CONFIG",
    "XMTP_CONFIG",
    "ApplicationMessage",
    "Group",
    "GroupConfig",
    "GroupStatus",
    "Member",
    "ProposalReceived",
    "StagedCommit",
    "WireFormatPolicy",
    "key_package_for_welcome",
]
