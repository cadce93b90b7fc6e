"""Consent, as libxmtp 1.10 keeps it: allowed, denied or unknown, per conversation and per inbox.

The decisions are stored locally (the ``consent`` table); device sync (:mod:`.device_sync`) publishes every
decision that changed a state to the inbox's other installations and merges theirs (:func:`merge`). What libxmtp
records by itself, and so does this client:

- a conversation we create is allowed (:func:`on_created`);
- a conversation we join from a welcome has no record (unknown), except: one created by our own inbox (another
  installation of ours) is allowed; a DM takes the latest decision recorded for another DM with the same peer
  (libxmtp's "stitching"); one we are added back to keeps its decision, unless we had asked to leave it (a
  leave request): then it is reset to unknown (:func:`on_joined`);
- sending into a conversation (not an optimistic send, which only stores the message) makes it allowed
  (:func:`on_sent`), as does publishing messages sent optimistically.

A decision made here that device sync is to publish is marked unpublished in the same transaction that stores
it (a ``cursors`` row per entity, :data:`UNPUBLISHED_PREFIX`), and the mark is removed once the node accepted
the message that publishes it (:func:`mark_published`): a crash in between loses nothing, the next publish sends
it. Decisions merged from another installation are never marked (so never published back).

A conversation's consent is its own record only; an inbox's consent is shown on its members
(:class:`~.members.GroupMember`) and is never applied to conversations by itself. Lists and streams of
conversations and messages filter on a conversation's consent: by default allowed and unknown ones, leaving
denied ones out (libxmtp's default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType

from .context import ClientContext
from .records import CONSENT_CONVERSATION, CONSENT_INBOX, ConsentRecord
from .session import SessionCache


class ConsentState(IntEnum):
    """libxmtp's ``ConsentState`` (its numbers are the stored ones)."""

    UNKNOWN = 0
    ALLOWED = 1
    DENIED = 2


class ConsentEntityType(IntEnum):
    """What a consent decision is about: a conversation (by its id) or an inbox (by its inbox id)."""

    CONVERSATION = CONSENT_CONVERSATION
    INBOX = CONSENT_INBOX


@dataclass(frozen=True, slots=True)
class Consent:
    """One decision: ``entity`` is a conversation id (hex) or an inbox id, as ``entity_type`` says."""

    entity_type: ConsentEntityType
    entity: str
    state: ConsentState


#: Lists and streams show these unless asked otherwise (libxmtp's default: denied ones are left out).
DEFAULT_STATES: tuple[ConsentState, ...] = (ConsentState.ALLOWED, ConsentState.UNKNOWN)


def _entity(entity_type: ConsentEntityType, entity: str) -> str:
    # conversation ids are compared as lowercase hex, as libxmtp stores them
    return entity.lower() if entity_type is ConsentEntityType.CONVERSATION else entity


#: ``cursors`` rows ``<prefix><entity type>/<entity>`` -> the ``updated_ns`` of a decision made here and not yet
#: published to the inbox's other installations.
UNPUBLISHED_PREFIX = "consent_unpublished/"


def _mark(entity_type: int, entity: str) -> str:
    return f"{UNPUBLISHED_PREFIX}{entity_type}/{entity}"


def unpublished(ctx: ClientContext) -> list[tuple[Consent, int]]:
    """The decisions made here not yet published (their current state), each with its mark."""
    found = []
    for key, marked_ns in ctx.store.cursors_with_prefix(UNPUBLISHED_PREFIX).items():
        entity_type, _, entity = key.partition("/")
        row = ctx.store.consent(int(entity_type), entity)
        if row is None:
            ctx.store.delete_cursor(_mark(int(entity_type), entity), marked_ns)
            continue
        found.append(
            (Consent(ConsentEntityType(row.entity_type), row.entity, ConsentState(row.state)), marked_ns)
        )
    return found


def mark_published(ctx: ClientContext, published: Iterable[tuple[Consent, int]]) -> None:
    """The node accepted these decisions: unmark them (a mark a later decision replaced stays)."""
    with ctx.store.transaction():
        for consent, marked_ns in published:
            ctx.store.delete_cursor(_mark(int(consent.entity_type), consent.entity), marked_ns)


def get_state(ctx: ClientContext, entity_type: ConsentEntityType, entity: str) -> ConsentState:
    """The recorded decision, :attr:`ConsentState.UNKNOWN` if none."""
    record = ctx.store.consent(int(entity_type), _entity(entity_type, entity))
    return ConsentState.UNKNOWN if record is None else ConsentState(record.state)


def conversation_state(ctx: ClientContext, group_id: bytes) -> ConsentState:
    return get_state(ctx, ConsentEntityType.CONVERSATION, group_id.hex())


def inbox_state(ctx: ClientContext, inbox_id: str) -> ConsentState:
    return get_state(ctx, ConsentEntityType.INBOX, inbox_id)


def record(ctx: ClientContext, consents: Iterable[Consent], *, publish: bool = True) -> list[Consent]:
    """Store decisions (each replaces the entity's earlier one) inside the caller's transaction or one of its
    own; the ones that changed a state. Those are told to the consent listeners (device sync publishes them to
    the inbox's other installations, ``stream_consent`` hands them out) unless ``publish`` is false (libxmtp's
    quiet path: the defaults recorded when joining a conversation)."""
    changed = []
    now = ctx.clock_ns()
    with ctx.store.transaction():
        for consent in consents:
            entity = _entity(consent.entity_type, consent.entity)
            row = ConsentRecord(int(consent.entity_type), entity, int(consent.state), now)
            if ctx.store.set_consent(row):
                changed.append(Consent(consent.entity_type, entity, consent.state))
                mark = _mark(int(consent.entity_type), entity)
                if publish:  # strictly later than an earlier mark, so that unmarking that one leaves this
                    ctx.store.set_cursor(mark, max(now, ctx.store.cursor(mark) + 1))
                else:  # the current state is not ours to publish
                    ctx.store.delete_cursor(mark)
    if publish:
        ctx.prefs.consent_changed(changed, True)
    return changed


def merge(ctx: ClientContext, consents: Iterable[tuple[Consent, int]]) -> list[Consent]:
    """Decisions another installation of the inbox made, each with its time (ns), merged by libxmtp's rule
    (``insert_newer_consent_record``): one about a new entity is stored; one about a known entity replaces its
    state only if it differs and is newer than the stored decision. The ones that changed a state, told to
    the consent listeners as not to be published again."""
    changed = []
    with ctx.store.transaction():
        for consent, at_ns in consents:
            entity = _entity(consent.entity_type, consent.entity)
            old = ctx.store.consent(int(consent.entity_type), entity)
            if old is not None and (old.state == int(consent.state) or old.updated_ns >= at_ns):
                continue
            row = ConsentRecord(int(consent.entity_type), entity, int(consent.state), at_ns)
            if ctx.store.set_consent(row):
                changed.append(Consent(consent.entity_type, entity, consent.state))
                # a newer decision from elsewhere replaces ours: not ours to publish any more
                ctx.store.delete_cursor(_mark(int(consent.entity_type), entity))
    ctx.prefs.consent_changed(changed, False)
    return changed


def set_conversation_state(
    ctx: ClientContext, group_id: bytes, state: ConsentState, *, publish: bool = True
) -> bool:
    """Record a decision about a conversation; whether it changed."""
    return bool(
        record(ctx, [Consent(ConsentEntityType.CONVERSATION, group_id.hex(), state)], publish=publish)
    )


def on_created(ctx: ClientContext, group_id: bytes) -> None:
    """A conversation we created is allowed."""
    set_conversation_state(ctx, group_id, ConsentState.ALLOWED)


def on_sent(ctx: ClientContext, group_id: bytes) -> None:
    """Sending into a conversation allows it."""
    set_conversation_state(ctx, group_id, ConsentState.ALLOWED)


def on_joined(
    ctx: ClientContext,
    sessions: SessionCache,
    core: CoreConversation,
    readded: bool,
    *,
    after_leave_request: bool = False,
) -> None:
    """The decision libxmtp records when a welcome is processed (see the module docstring); runs inside the
    transaction that stores the conversation. ``readded``: it replaces a conversation we were removed from;
    ``after_leave_request``: and we had asked to leave it."""
    group_id = core.group_id
    if core.conversation_type not in (ConversationType.GROUP, ConversationType.DM):
        return  # a device-sync group has no consent record
    if core.context.metadata.creator_inbox_id == ctx.inbox_id:
        set_conversation_state(ctx, group_id, ConsentState.ALLOWED, publish=False)
    elif readded:
        if after_leave_request:
            set_conversation_state(ctx, group_id, ConsentState.UNKNOWN, publish=False)
    elif core.conversation_type is ConversationType.DM and core.dm_peer is not None:
        _stitch_dm(ctx, sessions, group_id, core.dm_peer)


def _stitch_dm(ctx: ClientContext, sessions: SessionCache, group_id: bytes, peer: str) -> None:
    """A new DM takes the latest decision about an earlier DM with the same peer (libxmtp keeps one logical DM
    per pair of inboxes, whatever the number of MLS groups)."""
    others = [
        s.group_id
        for s in sessions.all()
        if s.group_id != group_id and s.conversation_type is ConversationType.DM and s.core.dm_peer == peer
    ]
    records = [ctx.store.consent(CONSENT_CONVERSATION, g.hex()) for g in others]
    latest = max((r for r in records if r is not None), key=lambda r: r.updated_ns, default=None)
    if latest is not None:
        set_conversation_state(ctx, group_id, ConsentState(latest.state), publish=False)


def states_filter(states: Sequence[ConsentState] | None) -> frozenset[ConsentState]:
    """The states a list or stream keeps: ``states``, or :data:`DEFAULT_STATES` if None or empty."""
    return frozenset(states) if states else frozenset(DEFAULT_STATES)


def conversation_states(ctx: ClientContext) -> dict[bytes, ConsentState]:
    """Every conversation's recorded decision, by group id (those without one are unknown)."""
    out = {}
    for row in ctx.store.consents(CONSENT_CONVERSATION):
        try:
            out[bytes.fromhex(row.entity)] = ConsentState(row.state)
        except ValueError:  # pragma: no cover - only this client writes the table
            continue
    return out
