"""What a handler is handed (agent-sdk's contexts):

- :class:`AgentContext`: the client (``start``, ``stop``, and the base of the others);
- :class:`ConversationContext`: a conversation too, with ``send_text`` / ``send_markdown`` / ``send``
  (``conversation``, ``dm``, ``group``; the base of :class:`MessageContext`);
- :class:`MessageContext`: a message too (``ctx.message``, its decoded value as ``ctx.content``), with the
  answers that refer to it: ``send_reply``, ``send_markdown_reply``, ``send_reaction``, ``send_read_receipt``,
  and ``get_sender_address``.

Every ``send*`` returns the id of the message sent (bytes), as :meth:`Conversation.send
<pyxmtp.client.Conversation.send>` does, and raises what it raises.
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast

from pyxmtp.client import Client, ConsentState, Conversation, DecodedMessage, Dm, Group, InboxNotFound
from pyxmtp.conversations.content import (
    EncodedContent,
    Markdown,
    Reaction,
    ReactionAction,
    ReactionSchema,
    Reply,
    Text,
)
from pyxmtp.identity.members import MemberKind

from . import filters

__all__ = ["AgentContext", "ConversationContext", "MessageContext"]

C_co = TypeVar("C_co", bound=Conversation, covariant=True)
T_co = TypeVar("T_co", covariant=True)


class ClientView:
    """The ``client`` and ``inbox_id`` of what holds the agent's client (the agent and its contexts)."""

    _client: Client

    @property
    def client(self) -> Client:
        return self._client

    @property
    def inbox_id(self) -> str:
        """The agent's inbox id."""
        return self._client.inbox_id


class AgentContext(ClientView):
    """The agent's client (agent-sdk's ``ClientContext``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_client_address(self) -> str | None:
        """The agent's Ethereum address (None if the client was made with another kind of identifier)."""
        identifier = self._client.account_identifier
        if identifier is None or identifier.kind is not MemberKind.ETHEREUM:
            return None
        return identifier.address


class ConversationContext(AgentContext, Generic[C_co]):
    """A conversation of the agent (a :class:`~pyxmtp.client.Dm` or :class:`~pyxmtp.client.Group`)."""

    def __init__(self, client: Client, conversation: C_co) -> None:
        super().__init__(client)
        self._conversation = conversation

    @property
    def conversation(self) -> C_co:
        return self._conversation

    def is_dm(self) -> bool:
        return isinstance(self._conversation, Dm)

    def is_group(self) -> bool:
        return isinstance(self._conversation, Group)

    @property
    def is_allowed(self) -> bool:
        return self._conversation.consent_state() is ConsentState.ALLOWED

    @property
    def is_denied(self) -> bool:
        return self._conversation.consent_state() is ConsentState.DENIED

    @property
    def is_unknown(self) -> bool:
        return self._conversation.consent_state() is ConsentState.UNKNOWN

    async def send(self, content: object) -> bytes:
        """Send any value of the client's codecs (an ``EncodedContent`` or its bytes too)."""
        return await self._conversation.send(content)

    async def send_text(self, text: str) -> bytes:
        return await self._conversation.send_text(text)

    async def send_markdown(self, markdown: str) -> bytes:
        return await self._conversation.send_markdown(markdown)


class MessageContext(ConversationContext[Conversation], Generic[T_co]):
    """A message the agent received, in its conversation. ``content`` is the message's decoded value, typed by
    the event (``str`` for ``text``, :class:`~pyxmtp.client.EnrichedReply` for ``reply``, ...: see
    :mod:`.events`)."""

    def __init__(self, client: Client, conversation: Conversation, message: DecodedMessage) -> None:
        super().__init__(client, conversation)
        self._message = message

    @property
    def message(self) -> DecodedMessage:
        return self._message

    @property
    def content(self) -> T_co:
        return cast(T_co, self._message.content)

    @property
    def sender_inbox_id(self) -> str:
        return self._message.sender_inbox_id

    # --- what it is (agent-sdk's type predicates; see .filters for the rest) ------------------------------
    def is_text(self) -> bool:
        return filters.is_text(self._message)

    def is_markdown(self) -> bool:
        return filters.is_markdown(self._message)

    def is_reply(self) -> bool:
        return filters.is_reply(self._message)

    def is_reaction(self) -> bool:
        return filters.is_reaction(self._message)

    def is_read_receipt(self) -> bool:
        return filters.is_read_receipt(self._message)

    def is_remote_attachment(self) -> bool:
        return filters.is_remote_attachment(self._message)

    def is_from_self(self) -> bool:
        """Always false in a handler: the agent never handles its own messages."""
        return filters.is_from_self(self._message, self._client)

    # --- answers ------------------------------------------------------------------------------------------
    def _encoded(self, content: object) -> EncodedContent:
        if isinstance(content, EncodedContent):
            return content
        if isinstance(content, str) and not isinstance(content, Text | Markdown):
            content = Text(content)
        return self._client.ctx.registry.encode(content)

    async def send_reply(self, content: object) -> bytes:
        """Reply to this message (``xmtp.org/reply``, naming its sender): a ``str`` is sent as text, anything
        else as the client's codecs send it (:class:`~pyxmtp.conversations.content.Markdown`, an
        ``EncodedContent``, ...)."""
        reply = Reply(self._message.id, self._encoded(content), self._message.sender_inbox_id)
        return await self._conversation.send_reply(reply)

    async def send_text_reply(self, text: str) -> bytes:
        """agent-sdk's ``sendTextReply``: :meth:`send_reply` with text."""
        return await self.send_reply(Text(text))

    async def send_markdown_reply(self, markdown: str) -> bytes:
        return await self.send_reply(Markdown(markdown))

    async def send_reaction(
        self,
        content: str,
        schema: ReactionSchema | str = ReactionSchema.UNICODE,
        *,
        action: ReactionAction | str = ReactionAction.ADDED,
    ) -> bytes:
        """React to this message with ``content`` (an emoji by default); ``action=ReactionAction.REMOVED``
        takes a reaction back."""
        reaction = Reaction(
            self._message.id, str(action), content, str(schema), self._message.sender_inbox_id
        )
        return await self._conversation.send_reaction(reaction)

    async def send_read_receipt(self) -> bytes:
        return await self._conversation.send_read_receipt()

    async def get_sender_address(self) -> str | None:
        """The sender's address: the first Ethereum identifier of its inbox (the first identifier of any kind
        if it has none), from the client's identity cache, fetched from the node the first time."""
        try:
            states = await self._client.preferences.get_inbox_states([self._message.sender_inbox_id])
        except InboxNotFound:
            return None
        if not states or not states[0].account_identifiers:
            return None
        identifiers = states[0].account_identifiers
        ethereum = [i for i in identifiers if i.kind is MemberKind.ETHEREUM]
        return str(ethereum[0] if ethereum else identifiers[0])
