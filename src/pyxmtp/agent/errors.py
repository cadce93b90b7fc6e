"""The agent's own errors.

Misuse by the caller (a bad configuration, an unknown event name, a command without its ``/``) is an
:class:`AgentConfigError` or :class:`AgentUsageError`, both :class:`ValueError`; what goes wrong while the agent
runs (its streams failing in a way they do not recover from by themselves) is an :class:`AgentStreamingError`,
handed to the error middleware. An exception raised by a handler or a middleware is handed to the error
middleware as it was raised.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of the agent's errors."""


class AgentConfigError(AgentError, ValueError):
    """The agent cannot be made as configured (an environment variable missing or malformed, an unknown
    network). The message names the setting, never a secret's value."""


class AgentUsageError(AgentError, ValueError):
    """The agent's API was called wrongly (an unknown event name, a command that does not start with ``/``)."""


class AgentStreamingError(AgentError):
    """The agent's streams ended with an error they do not recover from by themselves (the cause is
    ``__cause__``). The default error handler recovers: the streams are opened again after a pause."""


class ConversationNotFound(AgentError):
    """A streamed message names a conversation the client does not hold (should not happen: the stream stores
    every conversation before its messages)."""
