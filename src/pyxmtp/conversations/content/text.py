"""Text (``xmtp.org/text:1.0``) and Markdown (``xmtp.org/markdown:1.0``): UTF-8 content with parameters
``{"encoding": "UTF-8"}``, no fallback, pushed.

Decoding follows libxmtp: a missing ``encoding`` means UTF-8, any other value than exactly ``"UTF-8"`` is an
error.
"""

from __future__ import annotations

from collections.abc import Mapping

from .codec import ContentCodec, to_utf8, utf8
from .encoded import ContentTypeId, EncodedContent
from .errors import ContentDecodeError

ENCODING_PARAMETER = "encoding"
UTF8 = "UTF-8"

TEXT = ContentTypeId("xmtp.org", "text", 1, 0)
MARKDOWN = ContentTypeId("xmtp.org", "markdown", 1, 0)


class Text(str):
    """A text message (``xmtp.org/text:1.0``); it is the ``str`` itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Text({str.__repr__(self)})"


class Markdown(str):
    """A Markdown message (``xmtp.org/markdown:1.0``); it is the Markdown source as a ``str``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Markdown({str.__repr__(self)})"


def _check_utf8_encoding(parameters: Mapping[str, str], structure: str) -> None:
    encoding = parameters.get(ENCODING_PARAMETER, UTF8)
    if encoding != UTF8:
        raise ContentDecodeError(structure, f"unsupported text encoding {encoding!r} (only {UTF8!r})")


class TextCodec(ContentCodec[Text]):
    """``xmtp.org/text:1.0``; a plain ``str`` is sent as text."""

    content_type = TEXT
    should_push = True
    encodes = (Text, str)

    def encode(self, value: str) -> EncodedContent:
        return EncodedContent(TEXT, {ENCODING_PARAMETER: UTF8}, to_utf8(value, "text"))

    def decode(self, encoded: EncodedContent) -> Text:
        _check_utf8_encoding(encoded.parameters, str(TEXT))
        return Text(utf8(encoded.content, str(TEXT)))


class MarkdownCodec(ContentCodec[Markdown]):
    """``xmtp.org/markdown:1.0``."""

    content_type = MARKDOWN
    should_push = True
    encodes = (Markdown,)

    def encode(self, value: str) -> EncodedContent:
        return EncodedContent(MARKDOWN, {ENCODING_PARAMETER: UTF8}, to_utf8(value, "markdown"))

    def decode(self, encoded: EncodedContent) -> Markdown:
        _check_utf8_encoding(encoded.parameters, str(MARKDOWN))
        return Markdown(utf8(encoded.content, str(MARKDOWN)))
