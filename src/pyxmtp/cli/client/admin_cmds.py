"""A group's admins and leaving it: ``admins``, ``admin add|remove``, ``super-admin add|remove``, ``leave``.

Who may change what is the group's rule (in a default group: super admins change the admin lists); the SDK
refuses a change the rules forbid before anything is sent, and the command says which rule (exit status 1).
Leaving is a request: a super admin's client removes us the next time it syncs the group.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import sdk
from .errors import CliError
from .member_cmds import check_group, synced
from .options import Settings
from .output import Output, safe_text
from .session import open_session

_CONVERSATION_HELP = "conversation id or a unique prefix"
_ROLES = {"admin": "an admin", "super-admin": "a super admin"}


def register(command: Any) -> None:
    admins = command("admins", help="list a group's super admins and admins")
    admins.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    admins.set_defaults(handler=_admins)

    for role, what in _ROLES.items():
        change = command(
            role,
            help=f"make members {what} of a group, or no longer",
            description=f"Make members {what} of a group (add) or no longer (remove). In a default group "
            "only super admins may.",
        )
        change.add_argument("action", choices=("add", "remove"))
        change.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
        change.add_argument("members", nargs="+", metavar="MEMBER", help="an 0x address or an inbox id")
        change.set_defaults(handler=_change, role=role)

    leave = command(
        "leave",
        help="leave a group",
        description="Ask to leave a group: a super admin's client removes you when it next syncs the group "
        "(list then shows it as left). A super admin cannot leave before ceasing to be one.",
    )
    leave.add_argument("conversation", metavar="CONVERSATION", help=_CONVERSATION_HELP)
    leave.set_defaults(handler=_leave)


async def _admins(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "admins") as session:
        conversation = await synced(session, args.conversation)
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


async def _change(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    super_admin = args.role == "super-admin"
    add = args.action == "add"
    async with open_session(settings, output, args.role) as session:
        conversation = await synced(session, args.conversation)
        check_group(conversation)
        inbox_ids = list(dict.fromkeys([await sdk.inbox_of(session.client, m) for m in args.members]))
        members = set(conversation.member_inbox_ids())
        strangers = [i for i in inbox_ids if i not in members]
        if strangers:
            raise CliError(f"not members of this group: {safe_text(', '.join(strangers))}")
        names = await session.names(inbox_ids)
        what = _ROLES[args.role]
        for inbox_id in inbox_ids:
            await sdk.change_admin(conversation, inbox_id, super_admin=super_admin, add=add)
            super_admins, admins = sdk.admins(conversation)
            output.record(
                {
                    "conversation": conversation.group_id.hex(),
                    "inbox_id": inbox_id,
                    "role": args.role.replace("-", "_"),
                    "action": "added" if add else "removed",
                    "super_admins": super_admins,
                    "admins": admins,
                },
                f"made {names.of(inbox_id)} {what}" if add else f"{names.of(inbox_id)} is no longer {what}",
            )


async def _leave(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "leave") as session:
        conversation = await session.conversation(args.conversation)
        check_group(conversation)
        await sdk.leave(conversation)
        output.record(
            {
                "conversation": conversation.group_id.hex(),
                "pending_removal": sdk.is_pending_removal(conversation),
            },
            "asked to leave the group: a super admin's client removes you when it next syncs it",
        )
