"""Interactive choices: ``coinbase.com/actions:1.0`` (a menu of buttons) and ``coinbase.com/intent:1.0`` (the
reader's pick), JSON as libxmtp writes them, no parameters, pushed.

- actions: ``{id, description, actions: [{id, label, [imageUrl], [style], [expiresAt]}], [expiresAt]}``, one
  to ten actions with distinct ids; ``style`` is ``primary``, ``secondary`` or ``danger``; ``expiresAt`` is
  UTC written ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds, truncated) and read as any RFC 3339 time. Fallback:
  the description, a blank line, ``[1] <label>`` per action, a blank line, ``Reply with the number to select``.
- intent: ``{id, actionId, [metadata]}``: ``id`` is the actions' id, ``actionId`` the chosen one, ``metadata``
  any JSON object, at most 10 KiB written. Fallback ``User selected action: <actionId>``.

libxmtp keeps the top level of an intent's metadata in a hash map, so with more than one key its key order
varies from run to run (nested objects keep their order); ours is the mapping's order. On decode ``image_url``,
``expires_at`` and ``action_id`` are accepted for ``imageUrl``, ``expiresAt`` and ``actionId``, as libxmtp
does; an unknown style or a time that is not RFC 3339 is a :class:`ContentDecodeError`. Times are read to the
microsecond (Python's resolution).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import jsonwire
from .codec import ContentCodec, check_str
from .encoded import ContentTypeId, EncodedContent
from .errors import ContentArgumentError, ContentDecodeError

ACTIONS = ContentTypeId("coinbase.com", "actions", 1, 0)
INTENT = ContentTypeId("coinbase.com", "intent", 1, 0)

MAX_ACTIONS = 10
INTENT_METADATA_LIMIT = 10 * 1024

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


class ActionStyle(StrEnum):
    """How a client should draw an action's button."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Action:
    """One choice of an :class:`Actions` menu. ``expires_at`` is a timezone-aware time."""

    id: str
    label: str
    image_url: str | None = None
    style: ActionStyle | None = None
    expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Actions:
    """A menu of up to ten :class:`Action` (``coinbase.com/actions:1.0``) named ``id``."""

    id: str
    description: str
    actions: tuple[Action, ...]
    expires_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(jsonwire.check_sequence(self.actions, "Actions.actions")))


@dataclass(frozen=True, slots=True)
class Intent:
    """The reader chose ``action_id`` of the :class:`Actions` named ``id`` (``coinbase.com/intent:1.0``)."""

    id: str
    action_id: str
    metadata: Mapping[str, Any] | None = None


def format_time(when: dt.datetime, what: str) -> str:
    """``when`` (timezone-aware) in UTC as libxmtp writes it: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    if not isinstance(when, dt.datetime) or when.utcoffset() is None:
        raise ContentArgumentError(f"{what} must be a timezone-aware datetime")
    try:
        utc = when.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ContentArgumentError(f"{what} is out of range in UTC") from exc
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


def parse_time(text: str, structure: str) -> dt.datetime:
    """An RFC 3339 time, in UTC; a leap second (``:60``) reads as the last microsecond of its minute."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ContentDecodeError(structure, f"{text[:40]!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    micro = int((fraction + "000000")[:6])
    if second == 60:
        second, micro = 59, 999_999
    offset = dt.timedelta(0)
    if match.group(9):
        offset = dt.timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if match.group(9) == "-":
            offset = -offset
    try:
        local = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.timezone(offset))
        return local.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise ContentDecodeError(structure, f"{text[:40]!r} is not a valid time: {exc}") from exc


class ActionsCodec(ContentCodec[Actions]):
    """``coinbase.com/actions:1.0``."""

    content_type = ACTIONS
    should_push = True
    encodes = (Actions,)

    def encode(self, value: Actions) -> EncodedContent:
        check_str(value.id, "actions id")
        check_str(value.description, "actions description")
        if not 1 <= len(value.actions) <= MAX_ACTIONS:
            raise ContentArgumentError(
                f"an Actions menu holds 1 to {MAX_ACTIONS} actions, not {len(value.actions)}"
            )
        if any(not isinstance(a, Action) for a in value.actions):
            raise ContentArgumentError("Actions.actions must hold Action values")
        if len({a.id for a in value.actions}) != len(value.actions):
            raise ContentArgumentError("action ids must be unique")
        obj: dict[str, Any] = {
            "id": value.id,
            "description": value.description,
            "actions": [_action_json(a) for a in value.actions],
        }
        if value.expires_at is not None:
            obj["expiresAt"] = format_time(value.expires_at, "Actions.expires_at")
        body = jsonwire.dumps_bytes(obj, "actions")
        return EncodedContent(ACTIONS, {}, body, fallback=self.fallback(value))

    @staticmethod
    def fallback(value: Actions) -> str:
        """libxmtp's fallback: the menu as numbered text."""
        lines = "\n".join(f"[{i}] {a.label}" for i, a in enumerate(value.actions, 1))
        return f"{value.description}\n\n{lines}\n\nReply with the number to select"

    def decode(self, encoded: EncodedContent) -> Actions:
        s = str(ACTIONS)
        obj = jsonwire.load_object(encoded.content, s)
        actions = tuple(
            _read_action(jsonwire.as_object(a, s, "an action"), s)
            for a in jsonwire.as_list(obj.get("actions"), s, "field 'actions'")
        )
        return Actions(
            id=jsonwire.req_str(obj, "id", s),
            description=jsonwire.req_str(obj, "description", s),
            actions=actions,
            expires_at=_read_time(obj, s),
        )


def _action_json(action: Action) -> dict[str, Any]:
    check_str(action.id, "action id")
    check_str(action.label, "action label")
    check_str(action.image_url, "action image_url", optional=True)
    obj: dict[str, Any] = {"id": action.id, "label": action.label}
    if action.image_url is not None:
        obj["imageUrl"] = action.image_url
    if action.style is not None:
        if action.style not in tuple(ActionStyle):
            raise ContentArgumentError(f"action style must be one of {[s.value for s in ActionStyle]}")
        obj["style"] = str(ActionStyle(action.style))
    if action.expires_at is not None:
        obj["expiresAt"] = format_time(action.expires_at, "Action.expires_at")
    return obj


def _read_time(obj: Mapping[str, Any], structure: str) -> dt.datetime | None:
    raw = jsonwire.aliased(obj, "expiresAt", "expires_at", structure)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ContentDecodeError(structure, "field 'expiresAt' is not a string")
    return parse_time(raw, structure)


def _read_action(obj: Mapping[str, Any], structure: str) -> Action:
    image_url = jsonwire.aliased(obj, "imageUrl", "image_url", structure)
    if image_url is not None and not isinstance(image_url, str):
        raise ContentDecodeError(structure, "field 'imageUrl' is not a string")
    style_text = jsonwire.opt_str(obj, "style", structure)
    style = None
    if style_text is not None:
        try:
            style = ActionStyle(style_text)
        except ValueError as exc:
            raise ContentDecodeError(structure, f"unknown action style {style_text[:32]!r}") from exc
    return Action(
        id=jsonwire.req_str(obj, "id", structure),
        label=jsonwire.req_str(obj, "label", structure),
        image_url=image_url,
        style=style,
        expires_at=_read_time(obj, structure),
    )


class IntentCodec(ContentCodec[Intent]):
    """``coinbase.com/intent:1.0``."""

    content_type = INTENT
    should_push = True
    encodes = (Intent,)

    def encode(self, value: Intent) -> EncodedContent:
        check_str(value.id, "intent id")
        check_str(value.action_id, "intent action_id")
        obj: dict[str, Any] = {"id": value.id, "actionId": value.action_id}
        if value.metadata is not None:
            if not isinstance(value.metadata, Mapping):
                raise ContentArgumentError("intent metadata must be a mapping")
            size = len(jsonwire.dumps_bytes(value.metadata, "intent metadata"))
            if size > INTENT_METADATA_LIMIT:
                raise ContentArgumentError(
                    f"intent metadata is {size} bytes as JSON, over the {INTENT_METADATA_LIMIT} limit"
                )
            obj["metadata"] = value.metadata
        body = jsonwire.dumps_bytes(obj, "intent")
        return EncodedContent(INTENT, {}, body, fallback=f"User selected action: {value.action_id}")

    def decode(self, encoded: EncodedContent) -> Intent:
        s = str(INTENT)
        obj = jsonwire.load_object(encoded.content, s)
        action_id = jsonwire.aliased(obj, "actionId", "action_id", s)
        if not isinstance(action_id, str):
            raise ContentDecodeError(s, "field 'actionId' is missing or not a string")
        metadata = obj.get("metadata")
        return Intent(
            id=jsonwire.req_str(obj, "id", s),
            action_id=action_id,
            metadata=None if metadata is None else jsonwire.as_object(metadata, s, "metadata"),
        )
