"""Key-package statuses (node-sdk ``getKeyPackageStatusesForInstallationIds``, libxmtp's
``get_key_package_statuses_for_installation_ids``): each installation's current key package on the node, checked
as it is before the installation is added to a group. Every byte is the node's: a missing, malformed, forged,
expired or misfiled key package is a status naming what is wrong, never an exception; only a reply that does not
answer the question (another number of key packages) is :class:`KeyPackageReplyError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pyxmtp.conversations.key_packages import validate_xmtp_key_package
from pyxmtp.mls.errors import MLSError, ValidationError
from pyxmtp.mls.key_package_validation import KeyPackageValidationError, parse_key_package

from .api import NodeApi

#: Installations asked about per FetchKeyPackages call by :func:`key_package_statuses` (replies stay a few MB).
KEY_PACKAGE_STATUS_BATCH = 1000


class KeyPackageContext(Protocol):
    """What :func:`key_package_statuses` needs (a :class:`~pyxmtp.client.Client` has it)."""

    @property
    def api(self) -> NodeApi: ...

    @property
    def clock_ns(self) -> Callable[[], int]: ...


class KeyPackageReplyError(ValidationError):
    """The node answered a FetchKeyPackages call with a different number of key packages than asked for."""


@dataclass(frozen=True, slots=True)
class KeyPackageLifetime:
    """A key package's validity window, Unix seconds (``not_after`` exclusive, as libxmtp checks it)."""

    not_before: int
    not_after: int


@dataclass(frozen=True, slots=True)
class KeyPackageStatus:
    """What the node holds for one installation (node-sdk ``KeyPackageStatus``): the lifetime of its current key
    package, and why it cannot be used, if it cannot. ``lifetime`` is also given for a key package that only
    its lifetime makes unusable (an expired one; libxmtp gives none then); it is None when there is no key
    package or it does not verify."""

    lifetime: KeyPackageLifetime | None
    validation_error: str | None

    @property
    def valid(self) -> bool:
        return self.validation_error is None


def key_package_status(installation_id: bytes, data: bytes, now_s: int) -> KeyPackageStatus:
    """The status of ``data``, served as ``installation_id``'s key package, at Unix time ``now_s``: every check
    made before the installation is added to a group (signatures, XMTP credential, lifetime and its range)."""
    if not data:
        return KeyPackageStatus(None, "the node has no key package for this installation")
    try:
        _inbox_id, key, verified = validate_xmtp_key_package(data, now_s)
    except KeyPackageValidationError as exc:
        lifetime = None
        if exc.check in ("lifetime", "lifetime_range"):  # checked last: everything else, signatures too, held
            leaf_lifetime = parse_key_package(data).leaf_node.lifetime
            if leaf_lifetime is not None:
                lifetime = KeyPackageLifetime(leaf_lifetime.not_before, leaf_lifetime.not_after)
        return KeyPackageStatus(lifetime, str(exc))
    except MLSError as exc:
        return KeyPackageStatus(None, str(exc))
    if key != installation_id:
        return KeyPackageStatus(
            None, f"the node served installation {key.hex()}'s key package for {installation_id.hex()}"
        )
    window = verified.lifetime
    return KeyPackageStatus(KeyPackageLifetime(window.not_before, window.not_after), None)


async def key_package_statuses(
    ctx: KeyPackageContext, installation_ids: Sequence[bytes]
) -> dict[bytes, KeyPackageStatus]:
    """Each installation's current key package on the node, checked (node-sdk
    ``getKeyPackageStatusesForInstallationIds``). :class:`KeyPackageReplyError` if the node answers for a
    different number of installations than asked."""
    wanted = list(dict.fromkeys(bytes(i) for i in installation_ids))
    now_s = ctx.clock_ns() // 10**9
    out: dict[bytes, KeyPackageStatus] = {}
    for start in range(0, len(wanted), KEY_PACKAGE_STATUS_BATCH):
        batch = wanted[start : start + KEY_PACKAGE_STATUS_BATCH]
        packages = await ctx.api.fetch_key_packages(batch)
        if len(packages) != len(batch):
            raise KeyPackageReplyError(
                f"FetchKeyPackages asked about {len(batch)} installations, the node answered {len(packages)}"
            )
        for installation_id, data in zip(batch, packages, strict=True):
            out[installation_id] = key_package_status(installation_id, data, now_s)
    return out
