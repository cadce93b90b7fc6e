"""Who is in a conversation and changing it: ``members``, ``add``, ``remove``, ``rename``, ``consent`` (the
admins and leaving: :mod:`.admin_cmds`)."""

from __future__ import annotations

import argparse
from typing import Any

from . import sdk
from .errors import CliError
from .options import Settings
from .output import Output, plural, safe_text
from .session import Session, open_session

_CONVERSATION_HELP = "conversation id or a unique prefix"


def register(command: Any) -> None:
    members = command("members", help="list a conversation's members (inbox ids and addresses)")
    members.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    members.set_defaults(handler=_members)

    add = command("add", help="add people to a group")
    add.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    add.add_argument("members", nargs="+", metavar="MEMBER", help="an 0x address or an inbox id")
    add.set_defaults(handler=_add)

    remove = command("remove", help="remove people from a group (admins only, in a default group)")
    remove.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    remove.add_argument("members", nargs="+", metavar="MEMBER", help="an 0x address or an inbox id")
    remove.set_defaults(handler=_remove)

    rename = command("rename", help="rename a group")
    rename.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    rename.add_argument("name", metavar="NAME")
    rename.set_defaults(handler=_rename)

    consent = command(
        "consent",
        help="allow or deny a conversation, or a person",
        description="Record your decision about a conversation (its id or a unique prefix: a denied one is "
        "left out of listen) or about a person (an 0x address or an inbox id: kept for their inbox and shown by "
        "members; each conversation keeps its own decision).",
    )
    consent.add_argument("state", choices=("allow", "deny"))
    consent.add_argument(
        "target", metavar="CONVERSATION|ADDRESS|INBOX", help="conversation id prefix, 0x address or inbox id"
    )
    consent.set_defaults(handler=_consent)


async def synced(session: Session, text: str) -> sdk.ClientConversation:
    """The conversation, synced (membership and metadata as of now)."""
    conversation = await session.conversation(text)
    await sdk.sync(conversation)
    return conversation


def role_of(inbox_id: str, super_admins: list[str], admins: list[str]) -> str:
    if inbox_id in super_admins:
        return "super_admin"
    return "admin" if inbox_id in admins else "member"


async def _members(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "members") as session:
        conversation = await synced(session, args.conversation)
        inbox_ids = conversation.member_inbox_ids()
        found = await sdk.addresses(session.client, inbox_ids)
        if session.me in inbox_ids:
            found[session.me] = [session.wallet.address]
        super_admins, admins = sdk.admins(conversation) if not sdk.is_dm(conversation) else ([], [])
        for inbox_id in inbox_ids:
            role = role_of(inbox_id, super_admins, admins)
            you = inbox_id == session.me
            addresses = found.get(inbox_id, [])
            consent = None if you else sdk.inbox_consent(session.client, inbox_id)
            obj = {"inbox_id": inbox_id, "addresses": addresses, "role": role, "you": you, "consent": consent}
            shown = safe_text(", ".join(addresses)) if addresses else "(no Ethereum address)"
            tags = ([] if role == "member" else [role.replace("_", " ")]) + (["you"] if you else [])
            tags += ["denied"] if consent == "denied" else []
            extra = f"  ({', '.join(tags)})" if tags else ""
            output.record(obj, f"{shown}  inbox {safe_text(inbox_id)}{extra}")
        if not conversation.is_active:
            output.notice("you are no longer a member: this is the membership when you left")


async def _change(args: argparse.Namespace, settings: Settings, output: Output, command: str) -> None:
    async with open_session(settings, output, command) as session:
        conversation = await synced(session, args.conversation)
        check_group(conversation)
        inbox_ids = list(dict.fromkeys([await sdk.inbox_of(session.client, m) for m in args.members]))
        members = set(conversation.member_inbox_ids())
        if command == "add":
            already = [i for i in inbox_ids if i in members]
            if already:
                raise CliError(f"already {plural(len(already), 'member')}: {safe_text(', '.join(already))}")
            await sdk.add_members(conversation, inbox_ids)
        else:
            if session.me in inbox_ids:
                raise CliError("you cannot remove yourself: leave the group instead")
            missing = [i for i in inbox_ids if i not in members]
            if missing:
                raise CliError(f"not members: {safe_text(', '.join(missing))}")
            await sdk.remove_members(conversation, inbox_ids)
        found = await sdk.addresses(session.client, inbox_ids)
        shown = ", ".join(safe_text((found.get(i) or [i])[0]) for i in inbox_ids)
        verb = "added" if command == "add" else "removed"
        output.record(
            {
                "conversation": conversation.group_id.hex(),
                verb: inbox_ids,
                "members": len(conversation.member_inbox_ids()),
            },
            f"{verb} {shown}; the group has {plural(len(conversation.member_inbox_ids()), 'member')}",
        )


async def _add(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    await _change(args, settings, output, "add")


async def _remove(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    await _change(args, settings, output, "remove")


def check_group(conversation: sdk.ClientConversation) -> None:
    """A group we are still a member of (else a :class:`CliError` saying why not)."""
    if sdk.is_dm(conversation):
        raise CliError("this is a DM: its two members cannot change (start a group for more people)")
    if not conversation.is_active:
        raise CliError("you are no longer a member of this group")


async def _rename(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "rename") as session:
        conversation = await synced(session, args.conversation)
        check_group(conversation)
        await sdk.rename(conversation, args.name)
        name = sdk.group_name(conversation)
        output.record(
            {"conversation": conversation.group_id.hex(), "name": name},
            f"renamed the group to '{safe_text(name)}'",
        )


async def _consent(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    allowed = args.state == "allow"
    async with open_session(settings, output, "consent") as session:
        conversation, inbox_id = await session.conversation_or_inbox(args.target)
        if conversation is not None:
            sdk.set_conversation_consent(conversation, allowed)
            state = sdk.conversation_consent(conversation)
            names = await session.names([p for p in [sdk.dm_peer(conversation)] if p])
            label, short = session.label_and_short(conversation, names)
            output.record(
                {"conversation": conversation.group_id.hex(), "consent": state},
                f"{state} {safe_text(short)} {label}",
            )
            return
        assert inbox_id is not None
        if inbox_id == session.me:
            raise CliError("that is your own inbox: consent is about others")
        sdk.set_inbox_consent(session.client, inbox_id, allowed)
        state = sdk.inbox_consent(session.client, inbox_id)
        names = await session.names([inbox_id])
        output.record(
            {"inbox_id": inbox_id, "consent": state},
            f"{state} {names.of(inbox_id)}"
            + (f" (inbox {safe_text(inbox_id)})" if names.address(inbox_id) else ""),
        )
