"""Who is in a conversation and changing it: ``members``, ``add``, ``remove``, ``rename``, ``admins``,
``leave``, ``consent``."""

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

    admins = command("admins", help="list a group's super admins and admins")
    admins.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    admins.set_defaults(handler=_admins)

    leave = command("leave", help="leave a group (not supported yet)")
    leave.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    leave.set_defaults(handler=_leave)

    consent = command("consent", help="allow or deny a conversation (not supported yet)")
    consent.add_argument("state", choices=("allow", "deny"))
    consent.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    consent.set_defaults(handler=_consent)


async def _synced(session: Session, text: str) -> sdk.ClientConversation:
    """The conversation, synced (membership and metadata as of now)."""
    conversation = await session.conversation(text)
    await sdk.sync(conversation)
    return conversation


def _role(inbox_id: str, super_admins: list[str], admins: list[str]) -> str:
    if inbox_id in super_admins:
        return "super_admin"
    return "admin" if inbox_id in admins else "member"


async def _members(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "members") as session:
        conversation = await _synced(session, args.conversation)
        inbox_ids = conversation.member_inbox_ids()
        found = await sdk.addresses(session.client, inbox_ids)
        if session.me in inbox_ids:
            found[session.me] = [session.wallet.address]
        super_admins, admins = sdk.admins(conversation) if not sdk.is_dm(conversation) else ([], [])
        for inbox_id in inbox_ids:
            role = _role(inbox_id, super_admins, admins)
            you = inbox_id == session.me
            addresses = found.get(inbox_id, [])
            obj = {"inbox_id": inbox_id, "addresses": addresses, "role": role, "you": you}
            shown = safe_text(", ".join(addresses)) if addresses else "(no Ethereum address)"
            tags = ([] if role == "member" else [role.replace("_", " ")]) + (["you"] if you else [])
            extra = f"  ({', '.join(tags)})" if tags else ""
            output.record(obj, f"{shown}  inbox {safe_text(inbox_id)}{extra}")
        if not conversation.is_active:
            output.notice("you are no longer a member: this is the membership when you left")


async def _change(args: argparse.Namespace, settings: Settings, output: Output, command: str) -> None:
    async with open_session(settings, output, command) as session:
        conversation = await _synced(session, args.conversation)
        _check_group(conversation)
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


def _check_group(conversation: sdk.ClientConversation) -> None:
    if sdk.is_dm(conversation):
        raise CliError("this is a DM: its two members cannot change (start a group for more people)")
    if not conversation.is_active:
        raise CliError("you are no longer a member of this group")


async def _rename(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "rename") as session:
        conversation = await _synced(session, args.conversation)
        _check_group(conversation)
        await sdk.rename(conversation, args.name)
        output.record(
            {"conversation": conversation.group_id.hex(), "name": conversation.name},
            f"renamed the group to '{safe_text(conversation.name)}'",
        )


async def _admins(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "admins") as session:
        conversation = await _synced(session, args.conversation)
        if sdk.is_dm(conversation):
            raise CliError("a DM has no admins")
        super_admins, admins = sdk.admins(conversation)
        found = await sdk.addresses(session.client, super_admins + admins)
        found[session.me] = [session.wallet.address]
        for role, ids in (("super_admin", super_admins), ("admin", admins)):
            for inbox_id in ids:
                addresses = found.get(inbox_id, [])
                shown = safe_text(", ".join(addresses)) if addresses else "(no Ethereum address)"
                you = "  (you)" if inbox_id == session.me else ""
                output.record(
                    {
                        "inbox_id": inbox_id,
                        "addresses": addresses,
                        "role": role,
                        "you": inbox_id == session.me,
                    },
                    f"{role.replace('_', ' ')}  {shown}  inbox {safe_text(inbox_id)}{you}",
                )


async def _leave(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "leave") as session:
        conversation = await session.conversation(args.conversation)
        _check_group(conversation)
        await sdk.leave(conversation)
        output.record({"conversation": conversation.group_id.hex(), "left": True}, "asked to leave the group")


async def _consent(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "consent") as session:
        conversation = await session.conversation(args.conversation)
        await sdk.set_consent(conversation, args.state == "allow")
        output.record(
            {"conversation": conversation.group_id.hex(), "consent": args.state}, f"consent: {args.state}"
        )
