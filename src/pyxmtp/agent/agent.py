"""The agent: :class:`Agent`, an event-driven bot on one client (agent-sdk 2.x's ``Agent``, the Python way).

::

    async def main() -> None:
        async with await Agent.from_env() as agent:

            @agent.on_text
            async def echo(ctx: MessageContext[str]) -> None:
                await ctx.send_text(f"echo: {ctx.content}")

            await agent.run()  # until SIGINT or SIGTERM

    asyncio.run(main())

Running: :meth:`Agent.start` opens two streams of the client (new conversations, and every message of every
conversation, consent allowed or unknown), waits until the node has them, emits ``start`` and returns; the agent
then handles what arrives in tasks of its own until :meth:`Agent.stop`, which closes the streams, lets the
message being handled finish (up to ``timeout``), and emits ``stop``. :meth:`Agent.run` is start, wait for
SIGINT / SIGTERM (or :meth:`~Agent.stop` from anywhere, a handler too), stop. ``async with`` stops the agent and
closes the client it made.

Messages are handled one at a time, in the order the stream hands them out (a handler that waits holds the
next message back); new conversations are handled beside them. Each message: the agent's own (any installation
of its inbox) are passed over; the others go through the middleware, then the handlers of the message's event,
then those of ``message`` (:mod:`.events`, :mod:`.chain`). Whatever a handler or middleware raises goes to the
error middleware and never stops the agent. Streams reconnect by themselves after the node goes away; if one
fails otherwise, the error middleware gets an :class:`~.errors.AgentStreamingError`; the default handler
recovers: the streams are opened again after a pause (1 s, doubling up to 30 s) and ``start`` is emitted again.

Nothing is skipped across a stop and a start: the message stream is the client's stream for the named consumer
:data:`CONSUMER` (:mod:`pyxmtp.client.handover`), so the messages it had processed and stored but the agent had
not handled yet when it stopped (up to the stream's buffer), or whose handler was cancelled by the stop's
timeout, are handed to the handlers first on the next start (with the same database), each once. After a crash
the message being handled comes again (at least once). The first start of an agent on a database begins with
what arrives from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from pyxmtp.client import Client, Conversation, DecodedMessage, Dm, Group, Stream
from pyxmtp.client.streams import StreamClosed
from pyxmtp.conversations.content import ContentCodec
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.signatures import Signer

from . import events, filters
from .chain import ErrorNext, call, run_error_chain, run_middleware
from .config import load_env_file, read_settings
from .context import AgentContext, ClientView, ConversationContext, MessageContext
from .errors import AgentStreamingError, ConversationNotFound
from .handlers import Handlers
from .network import NodeTarget, get_test_url, resolve_node

__all__ = ["CONSUMER", "RESTART_FIRST_WAIT", "RESTART_MAX_WAIT", "STOP_TIMEOUT", "Agent"]

log = logging.getLogger("pyxmtp.agent")

#: The first pause before the streams are opened again after they failed, and the longest.
RESTART_FIRST_WAIT = 1.0
RESTART_MAX_WAIT = 30.0
#: How long :meth:`Agent.stop` lets the message being handled finish before it is cancelled.
STOP_TIMEOUT = 10.0
#: The consumer name of the agent's message stream: what it was handed is recorded under it in the database.
CONSUMER = "agent"


class _Default:
    pass


_DEFAULT_PATH = _Default()


class Agent(ClientView, Handlers):
    """An agent on ``client`` (see the module docstring). Make one with :meth:`create` or :meth:`from_env` (the
    agent then owns its client and closes it), or around a client of your own (``Agent(client)``)."""

    def __init__(self, client: Client, *, env: str = "custom", owns_client: bool = False) -> None:
        super().__init__()
        self._client = client
        self._env = env
        self._owns_client = owns_client
        self._runner: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None
        self._stop_requested = asyncio.Event()
        self._streams: tuple[Stream[Any], ...] = ()
        self._tasks: set[asyncio.Task[None]] = set()
        self._start_emitted = False
        self._stop_emitted = True
        self._closing: asyncio.Task[None] | None = None

    # --- making one ---------------------------------------------------------------------------------------
    @classmethod
    async def create(
        cls,
        signer: Signer,
        *,
        env: str | None = None,
        node_url: str | None = None,
        db_path: str | Path | _Default | None = _DEFAULT_PATH,
        db_directory: str | Path | None = None,
        db_encryption_key: bytes | None = None,
        nonce: int = 0,
        codecs: Iterable[ContentCodec[object]] = (),
        api_timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        proxy: str | None = None,
    ) -> Agent:
        """The agent of ``signer``'s inbox, its client registered if needed (:meth:`Client.create
        <pyxmtp.client.Client.create>`).

        The node is ``node_url`` if given, else the network ``env`` (``local``, ``dev``, ``production``; local by
        default: see :mod:`.network`); TLS for ``https://`` URLs and the public networks (``credentials`` to
        choose your own roots). The database is ``db_path`` if given (None: in memory, a new installation each
        run), else ``xmtp-<env>-<inbox id>.db3`` in ``db_directory`` (the current directory by default; made
        owner-only if missing), encrypted with ``db_encryption_key`` (32 bytes; the ``encrypted`` extra)."""
        return await cls._create(
            signer,
            resolve_node(env, node_url),
            db_path=db_path,
            db_directory=db_directory,
            db_encryption_key=db_encryption_key,
            nonce=nonce,
            codecs=codecs,
            api_timeout=api_timeout,
            credentials=credentials,
            proxy=proxy,
        )

    @classmethod
    async def _create(
        cls,
        signer: Signer,
        target: NodeTarget,
        *,
        db_path: str | Path | _Default | None = _DEFAULT_PATH,
        db_directory: str | Path | None = None,
        db_encryption_key: bytes | None = None,
        nonce: int = 0,
        codecs: Iterable[ContentCodec[object]] = (),
        api_timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        proxy: str | None = None,
    ) -> Agent:
        if credentials is None and target.tls:
            credentials = grpc.ssl_channel_credentials()
        if isinstance(db_path, _Default):
            directory = Path(db_directory) if db_directory is not None else Path.cwd()
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            inbox_id = inbox_id_for(signer.identifier, nonce)
            db_path = directory / f"xmtp-{target.env}-{inbox_id}.db3"
        client = await Client.create(
            target.address,
            signer,
            db_path=db_path,
            db_encryption_key=db_encryption_key,
            nonce=nonce,
            codecs=codecs,
            api_timeout=api_timeout,
            credentials=credentials,
            proxy=proxy,
        )
        agent = cls(client, env=target.env, owns_client=True)
        try:
            await agent._check_installations()
        except BaseException:
            await client.close()
            raise
        return agent

    @classmethod
    async def from_env(
        cls,
        environ: MutableMapping[str, str] | None = None,
        *,
        env_file: str | Path | None = None,
        codecs: Iterable[ContentCodec[object]] = (),
        api_timeout: float = 30.0,
        proxy: str | None = None,
    ) -> Agent:
        """The agent the environment describes (``XMTP_WALLET_KEY``, ``XMTP_DB_ENCRYPTION_KEY``, ``XMTP_ENV``,
        ``XMTP_NODE_URL``, ``XMTP_DB_DIRECTORY``, ``XMTP_FORCE_DEBUG_LEVEL``: see :mod:`.config`), read from
        ``environ`` (``os.environ`` by default; the two keys are removed from it), after ``env_file`` (a
        ``.env`` file) if given. :class:`~.errors.AgentConfigError` names what is missing or malformed."""
        if env_file is not None:
            load_env_file(env_file, environ)
        settings = read_settings(environ)
        if settings.log_level is not None:
            _log_to_stderr(settings.log_level)
        wallet = LocalWalletSigner(settings.wallet_key)
        return await cls._create(
            wallet,
            settings.node,
            db_directory=settings.db_directory,
            db_encryption_key=settings.db_encryption_key,
            codecs=codecs,
            api_timeout=api_timeout,
            proxy=proxy,
        )

    async def _check_installations(self) -> None:
        """agent-sdk's warning: more than one installation, this one the newest, usually means the database was
        not kept between runs (an inbox may have only a few installations)."""
        state = await self._client.inbox_state(refresh=True)
        installations = state.installations
        if len(installations) > 1 and installations[-1].id == self._client.installation_id:
            log.warning(
                "inbox %s has %d installations and this one (%s) is the newest: keep the agent's database "
                "between runs, or it will run out of installations",
                self._client.inbox_id,
                len(installations),
                self._client.installation_id.hex(),
            )

    # --- what it is ---------------------------------------------------------------------------------------
    @property
    def address(self) -> str | None:
        """The agent's Ethereum address (None for another kind of identifier)."""
        return AgentContext(self._client).get_client_address()

    @property
    def env(self) -> str:
        """The network: ``local``, ``dev``, ``production``, or ``custom`` (a node URL)."""
        return self._env

    @property
    def test_url(self) -> str | None:
        """Where to talk to the agent from a browser (xmtp.chat; dev and production only)."""
        return get_test_url(self.address, self._env)

    @property
    def is_running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    # --- starting conversations (agent-sdk's helpers) -----------------------------------------------------
    async def create_dm_with_address(self, address: str) -> Dm:
        return await self._client.conversations.create_dm_with_identifier(address)

    async def create_group_with_addresses(self, addresses: Sequence[str], *, name: str = "") -> Group:
        return await self._client.conversations.create_group_with_identifiers(addresses, name=name)

    async def add_members_with_addresses(self, group: Group, addresses: Sequence[str]) -> None:
        await group.add_members_by_identifiers(addresses)

    def get_conversation_context(
        self, conversation_id: str | bytes
    ) -> ConversationContext[Conversation] | None:
        """A context for the conversation with this id (hex or bytes), to send into it; None if the client
        has not got it."""
        conversation = self._client.conversations.get_conversation_by_id(conversation_id)
        return None if conversation is None else ConversationContext(self._client, conversation)

    # --- start, stop, run ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the streams, wait until the node has them, emit ``start`` (see the module docstring). Nothing
        if the agent is running already. :class:`~.errors.AgentStreamingError` if the streams fail before they
        are ready and the error middleware does not recover."""
        if self._runner is None or self._runner.done():
            loop = asyncio.get_running_loop()
            self._stop_requested = asyncio.Event()
            self._started = loop.create_future()
            self._start_emitted = False
            self._stop_emitted = False
            self._runner = loop.create_task(self._run(self._started), name="pyxmtp agent")
        assert self._started is not None
        await asyncio.shield(self._started)

    async def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop: close the streams, let the message being handled finish (cancelled after ``timeout`` s), emit
        ``stop``. Nothing if the agent is not running. From a handler it returns at once; the agent stops
        when the handler returns."""
        runner = self._runner
        if runner is None or runner.done():
            return
        self._stop_requested.set()
        await self._close_streams()
        current = asyncio.current_task()
        if current is runner or current in self._tasks:
            return
        try:
            await asyncio.wait_for(asyncio.shield(runner), timeout)
        except TimeoutError:
            log.warning("the agent's handlers did not finish within %.1f s: cancelled", timeout)
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self._start_emitted and not self._stop_emitted:  # the runner was cancelled before it could
            self._stop_emitted = True
            await self._emit(events.STOP, AgentContext(self._client))

    async def wait_stopped(self) -> None:
        """Wait until the agent has stopped (after :meth:`stop`, or streams that failed for good)."""
        if self._runner is not None:
            await asyncio.shield(self._runner)

    async def run(self, *, handle_signals: bool = True) -> None:
        """Start, run until SIGINT or SIGTERM (when ``handle_signals``; a second signal cancels the handlers at
        once) or until :meth:`stop`, then stop."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(signum, self._on_signal, signum)
                except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                    continue
                installed.append(signum)
        try:
            await self.start()
            runner = self._runner
            assert runner is not None
            requested = asyncio.ensure_future(self._stop_requested.wait())
            try:
                await asyncio.wait({requested, runner}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                requested.cancel()
        finally:
            try:
                await self.stop()
            finally:
                for signum in installed:
                    loop.remove_signal_handler(signum)

    def _on_signal(self, signum: signal.Signals) -> None:
        runner = self._runner
        if self._stop_requested.is_set():
            log.warning("%s again: cancelling the handlers", signum.name)
            if runner is not None:
                runner.cancel()
            return
        log.info("%s: stopping", signum.name)
        self._stop_requested.set()
        # closing the streams also ends a start() still waiting for the node; run() then stops the agent
        self._closing = asyncio.get_running_loop().create_task(self._close_streams())

    async def close(self) -> None:
        """Stop, and close the client if the agent made it."""
        try:
            await self.stop()
        finally:
            if self._owns_client:
                await self._client.close()

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the runner ---------------------------------------------------------------------------------------
    async def _run(self, started: asyncio.Future[None]) -> None:
        wait = RESTART_FIRST_WAIT
        try:
            while not self._stop_requested.is_set():
                failure = await self._session(started)
                if failure is None or self._stop_requested.is_set():
                    break
                error = AgentStreamingError(f"the agent's streams failed: {failure!r}")
                error.__cause__ = failure
                if not await self._on_error(error, AgentContext(self._client)):
                    if not started.done():
                        started.set_exception(error)
                    break
                log.info("the agent's streams failed (%r); opening them again in %.1f s", failure, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), wait)
                wait = min(wait * 2, RESTART_MAX_WAIT)
        except asyncio.CancelledError:
            if not started.done():
                started.set_result(None)  # cancelled by stop() or a second signal: not running
            raise
        except Exception as exc:  # the agent's own failure, not a handler's (those are guarded)
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            await self._close_streams()
        if not started.done():
            started.set_result(None)  # stopped before it was ready
        if self._start_emitted and not self._stop_emitted:
            self._stop_emitted = True
            await self._emit(events.STOP, AgentContext(self._client))

    async def _close_streams(self) -> None:
        for stream in self._streams:
            await stream.close()

    async def _session(self, started: asyncio.Future[None]) -> Exception | None:
        """One life of the streams: open them, emit ``start``, handle what they bring until they are closed
        (None) or one fails (its error)."""
        conversations = self._client.conversations.stream()
        messages = self._client.conversations.stream_all_messages(consumer=CONSUMER)
        self._streams = (conversations, messages)
        if self._stop_requested.is_set():  # stop() came while they were being made
            await self._close_streams()
            return None
        ready = [asyncio.ensure_future(s.wait_ready()) for s in self._streams]
        try:
            await asyncio.wait(ready, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for future in ready:
                future.cancel()
        if not all(f.done() and not f.cancelled() and f.exception() is None for f in ready):
            if self._stop_requested.is_set():
                return None
            failure = await _failure_of(conversations, messages)  # before closing: close() drops it
            await self._close_streams()
            return failure
        self._start_emitted = True
        await self._emit(events.START, AgentContext(self._client))
        if not started.done():
            started.set_result(None)
        consumers = [
            asyncio.create_task(
                self._consume_conversations(conversations), name="pyxmtp agent conversations"
            ),
            asyncio.create_task(self._consume_messages(messages), name="pyxmtp agent messages"),
        ]
        self._tasks = set(consumers)
        try:
            done, _ = await asyncio.wait(consumers, return_when=asyncio.FIRST_COMPLETED)
            ended = next(
                (t.exception() for t in done if not t.cancelled() and t.exception() is not None), None
            )
            await self._close_streams()
            results = await asyncio.gather(*consumers, return_exceptions=True)
        except asyncio.CancelledError:
            for task in consumers:
                task.cancel()
            await asyncio.gather(*consumers, return_exceptions=True)
            raise
        finally:
            self._tasks = set()
        if ended is None:
            ended = next((r for r in results if isinstance(r, Exception)), None)
        if self._stop_requested.is_set():
            return None
        return AgentStreamingError("a stream ended") if ended is None else _as_exception(ended)

    async def _consume_conversations(self, stream: Stream[Conversation]) -> None:
        async for conversation in stream:
            await self._handle_conversation(conversation)

    async def _consume_messages(self, stream: Stream[DecodedMessage]) -> None:
        async for message in stream:
            try:
                await self._handle_message(message)
            except Exception as exc:  # not the handlers' (they are guarded): the agent's own, say
                await self._on_error(exc, AgentContext(self._client))

    # --- dispatch -----------------------------------------------------------------------------------------
    async def _handle_message(self, message: DecodedMessage) -> None:
        if filters.is_from_self(message, self._client):
            return
        conversation = self._client.conversations.get_conversation_by_id(message.group_id)
        if conversation is None:
            raise ConversationNotFound(
                f"message {message.id} names conversation {message.conversation_id}, which the client has not got"
            )
        event = events.message_event(message)
        ctx: MessageContext[object] = MessageContext(self._client, conversation, message)

        async def handlers() -> None:
            await self._emit_all((event, events.MESSAGE), ctx)

        await run_middleware(ctx, list(self._middleware), handlers, self._on_error)

    async def _handle_conversation(self, conversation: Conversation) -> None:
        ctx = ConversationContext(self._client, conversation)
        kind = events.GROUP if isinstance(conversation, Group) else events.DM
        await self._emit_all((events.CONVERSATION, kind), ctx)

    async def _emit_all(self, names: Sequence[str], ctx: AgentContext) -> None:
        """Run the handlers of ``names``, in order; one that raises goes to the error middleware, which says
        whether the rest run."""
        for name in names:
            for handler in list(self._handlers[name]):
                try:
                    await call(handler, ctx)
                except Exception as exc:
                    if not await self._on_error(exc, ctx):
                        return

    async def _emit(self, name: str, ctx: AgentContext) -> None:
        await self._emit_all((name,), ctx)

    async def _on_error(self, error: Exception, ctx: AgentContext) -> bool:
        return await run_error_chain(error, ctx, [*self._error_middleware, self._default_error_handler])

    async def _default_error_handler(self, error: Exception, ctx: AgentContext, next_: ErrorNext) -> None:
        """agent-sdk's default: the ``unhandled-error`` event (logged if nobody listens); a streaming error is
        recovered from."""
        del ctx
        handlers = list(self._handlers[events.UNHANDLED_ERROR])
        if not handlers:
            log.error("unhandled error in the agent: %r", error, exc_info=error)
        for handler in handlers:
            try:
                await call(handler, error)
            except Exception:
                log.exception("an unhandled-error handler raised")
        if isinstance(error, AgentStreamingError):
            await next_()


async def _failure_of(*streams: Stream[Any]) -> Exception:
    """The error a stream that ended before it was ready ended with."""
    for stream in streams:
        if stream.is_closed:
            try:
                await anext(stream)
            except StopAsyncIteration:
                continue
            except Exception as exc:
                return exc
    return StreamClosed("a stream ended before it was ready")


def _as_exception(failure: BaseException) -> Exception:
    return failure if isinstance(failure, Exception) else AgentStreamingError(repr(failure))


def _log_to_stderr(level: int) -> None:
    """``XMTP_FORCE_DEBUG_LEVEL``: the pyxmtp loggers at ``level``, to stderr if nothing else shows them."""
    logger = logging.getLogger("pyxmtp")
    logger.setLevel(level)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
