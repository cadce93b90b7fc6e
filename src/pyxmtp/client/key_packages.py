"""The installation's key packages, as libxmtp's workers keep them.

A key package is uploaded before the identity update that adds the installation is published; a new one
replaces it after welcomes used it (:func:`rotate_key_package`) or once it is :data:`KEY_PACKAGE_ROTATION_NS`
old; the private keys of replaced ones are deleted :data:`KEY_PACKAGE_GRACE_NS` later (:func:`maintain`), so
late welcomes still open but a stolen database does not open old ones forever.
"""

from __future__ import annotations

from pyxmtp.conversations.key_packages import create_xmtp_key_package
from pyxmtp.conversations.welcome_wrap import WrapperKeyPair, generate_wrapper_key_pair
from pyxmtp.mls.codec import encode

from .context import ClientContext
from .store import KeyPackageRecord

#: Replaced key packages keep their private keys this long, for welcomes still on the way (libxmtp: 1 day).
KEY_PACKAGE_GRACE_NS = 24 * 3600 * 10**9
#: A key package is replaced after 30 days even without welcomes (libxmtp), well within its 84-day lifetime.
KEY_PACKAGE_ROTATION_NS = 30 * 24 * 3600 * 10**9


async def rotate_key_package(ctx: ClientContext) -> None:
    """Publish a fresh key package; older ones are deleted :data:`KEY_PACKAGE_GRACE_NS` later."""
    now_ns = ctx.clock_ns()
    wrapper: WrapperKeyPair = generate_wrapper_key_pair(ctx.rng)
    bundle = create_xmtp_key_package(
        ctx.inbox_id, ctx.signer, rng=ctx.rng, now=now_ns // 10**9, welcome_wrapper=wrapper.extension()
    )
    record = KeyPackageRecord(
        wrapper.public_key, bundle.to_bytes(), wrapper.private_key_bytes(), now_ns, None
    )
    with ctx.store.transaction():
        ctx.store.add_key_package(record)
    await ctx.api.upload_key_package(encode(bundle.key_package))
    with ctx.store.transaction():
        ctx.store.retire_key_packages(keep=wrapper.public_key, delete_at_ns=now_ns + KEY_PACKAGE_GRACE_NS)
        ctx.store.delete_expired_key_packages(now_ns)


async def maintain(ctx: ClientContext) -> None:
    """A new key package once the current one is :data:`KEY_PACKAGE_ROTATION_NS` old, and the private keys of
    replaced ones deleted when their grace period is over. Cheap when nothing is due."""
    now_ns = ctx.clock_ns()
    newest = ctx.store.newest_key_package_ns()
    if newest is None or now_ns - newest >= KEY_PACKAGE_ROTATION_NS:
        await rotate_key_package(ctx)
        return
    with ctx.store.transaction():
        ctx.store.delete_expired_key_packages(now_ns)
