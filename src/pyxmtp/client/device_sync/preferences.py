"""Consent decisions and the HMAC key as sync-group ``PreferenceUpdates`` (libxmtp 1.10), both ways.

Numbers differ between the wire and the store: ``ConsentStateSave`` is UNKNOWN 1, ALLOWED 2, DENIED 3 (ours 0,
1, 2); ``ConsentTypeSave`` CONVERSATION_ID 1, INBOX_ID 2 (ours too); ADDRESS and UNSPECIFIED are refused.
A received decision is merged by libxmtp's rule (:func:`~..consent.merge`); a received HMAC key replaces ours
if it is 42 bytes and not older than the one in use.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyxmtp.proto.device_sync import consent_backup_pb2, content_pb2

from .. import consent
from ..consent import Consent, ConsentEntityType, ConsentState
from ..context import HMAC_CYCLED_CURSOR, ClientContext

log = logging.getLogger("pyxmtp.client.device_sync")

#: libxmtp's HMAC keys are 42 bytes.
HMAC_KEY_LENGTH = 42


@dataclass(frozen=True, slots=True)
class ConsentUpdate:
    """Consent decisions that changed (here, or received from another installation of the inbox)."""

    consents: tuple[Consent, ...]


@dataclass(frozen=True, slots=True)
class HmacKeyUpdate:
    """The inbox's sender-HMAC key was replaced by the one the inbox's installations agreed on."""

    key: bytes
    cycled_at_ns: int


#: What ``stream_preferences`` hands out.
PreferenceUpdate = ConsentUpdate | HmacKeyUpdate


def consent_saves(consents: Sequence[Consent], at_ns: int) -> list[content_pb2.PreferenceUpdate]:
    """Our decisions as ``PreferenceUpdate`` items, dated ``at_ns`` (libxmtp compares that with its records)."""
    return [
        content_pb2.PreferenceUpdate(
            consent=consent_backup_pb2.ConsentSave(
                entity_type=int(c.entity_type),  # type: ignore[arg-type]
                state=int(c.state) + 1,  # type: ignore[arg-type]
                entity=c.entity,
                consented_at_ns=at_ns,
            )
        )
        for c in consents
    ]


def hmac_update(key: bytes, cycled_at_ns: int) -> content_pb2.PreferenceUpdate:
    return content_pb2.PreferenceUpdate(hmac=content_pb2.HmacKeyUpdate(key=key, cycled_at_ns=cycled_at_ns))


def _consent_of(save: consent_backup_pb2.ConsentSave) -> tuple[Consent, int] | None:
    if save.entity_type not in (1, 2) or save.state not in (1, 2, 3) or not save.entity:
        return None
    return Consent(ConsentEntityType(save.entity_type), save.entity, ConsentState(save.state - 1)), int(
        save.consented_at_ns
    )


def apply(ctx: ClientContext, updates: content_pb2.PreferenceUpdates) -> list[PreferenceUpdate]:
    """Apply received updates; what changed (consent decisions merged, an HMAC key adopted)."""
    consents: list[tuple[Consent, int]] = []
    out: list[PreferenceUpdate] = []
    for update in updates.updates:
        which = update.WhichOneof("update")
        if which == "consent":
            item = _consent_of(update.consent)
            if item is None:
                log.warning(
                    "a consent update with type %d / state %d refused",
                    update.consent.entity_type,
                    update.consent.state,
                )
            else:
                consents.append(item)
        elif which == "hmac":
            adopted = _adopt_hmac(ctx, update.hmac)
            if adopted is not None:
                out.append(adopted)
    changed = consent.merge(ctx, consents)
    if changed:
        out.insert(0, ConsentUpdate(tuple(changed)))
    return out


def _adopt_hmac(ctx: ClientContext, update: content_pb2.HmacKeyUpdate) -> HmacKeyUpdate | None:
    if len(update.key) != HMAC_KEY_LENGTH:
        log.warning("an HMAC key update of %d bytes refused (keys are %d)", len(update.key), HMAC_KEY_LENGTH)
        return None
    prefs = ctx.prefs
    if prefs.hmac_cycled_at_ns > update.cycled_at_ns or prefs.hmac_key == update.key:
        return None
    with ctx.store.transaction():
        ctx.store.set_hmac_key(update.key)
        ctx.store.set_cursor(HMAC_CYCLED_CURSOR, update.cycled_at_ns)
    prefs.hmac_key, prefs.hmac_cycled_at_ns = update.key, update.cycled_at_ns
    return HmacKeyUpdate(update.key, update.cycled_at_ns)
