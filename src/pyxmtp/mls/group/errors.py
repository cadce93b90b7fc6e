"""Errors of the group engine, refining :mod:`pyxmtp.mls.errors`.

Remote (a peer's message is invalid): :class:`ProposalError` names the RFC 9420 rule a proposal or proposal
list breaks, :class:`CommitError` a commit, :class:`WireFormatError` a message in a wire format the policy
refuses, :class:`WrongGroupError` a message for another group, :class:`MissingProposalError` a reference to a proposal we never received,
:class:`MissingPSKError` a pre-shared key we do not have, :class:`ProposalStoreFull` a proposal by reference
beyond the epoch's cache, :class:`WelcomeError` a Welcome we cannot use.

Local (the caller misused the API): :class:`~pyxmtp.mls.errors.StateError` (operation not allowed in the
group's state) and :class:`InvalidArgument` (a bad argument, including an inline proposal that would make
our own commit invalid).
"""

from __future__ import annotations

from ..errors import LocalMLSError, MissingKeyError, ValidationError


class InvalidArgument(LocalMLSError):
    """An argument is invalid (unknown member, own proposal that breaks an RFC 9420 rule, ...)."""


class ProposalError(ValidationError):
    """A proposal, or a commit's proposal list, breaks the RFC 9420 rule named by :attr:`rule`; :attr:`index` is
    the position of the offending proposal in the commit's list (None when the list as a whole is wrong)."""

    def __init__(self, rule: str, reason: str, index: int | None = None) -> None:
        self.rule = rule
        self.reason = reason
        self.index = index
        where = "" if index is None else f"proposal {index}: "
        super().__init__(f"{where}{rule}: {reason}")


class CommitError(ValidationError):
    """A commit is invalid (path missing or present where forbidden, bad sender, bad leaf node, ...)."""


class WireFormatError(ValidationError):
    """A message arrived in a wire format that the group policy or RFC 9420 forbids for its content."""


class WrongGroupError(ValidationError):
    """A message carries another group's id."""


class MissingProposalError(ValidationError):
    """A commit references a proposal (by ProposalRef) that this member has not received in this epoch."""


class MissingPSKError(MissingKeyError):
    """A PreSharedKey proposal or Welcome names a PSK we do not have (unknown external id, old epoch);
    :attr:`index` is the position of the proposal in the commit's list, if any."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        self.index = index
        super().__init__(reason)


class ProposalStoreFull(ValidationError):
    """A proposal by reference does not fit in this epoch's cache (too many, or too many bytes, of them are
    cached already): a peer sends proposals faster than anyone commits them."""


class WelcomeError(ValidationError):
    """A Welcome cannot be used to join (not for our key package, wrong suite, inconsistent contents)."""


class OwnMessageError(MissingKeyError):
    """A PrivateMessage we sent ourselves came back: its key was consumed when we sent it. (Our own pending
    commit is recognised by its bytes and returned by ``process``; other own messages are known already.)"""
