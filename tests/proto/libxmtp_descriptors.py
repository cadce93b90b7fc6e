"""Find the protobuf schemas compiled into the real libxmtp client library.

xmtp-bindings ships libxmtp as a Rust shared object whose generated protobuf
code embeds a serialized ``FileDescriptorSet``: consecutive
``FileDescriptorProto`` records, each prefixed (as field 1 of the set) by
``0x0a`` and a varint length. Each record starts with its file name
(field 1, ``0a <len> <name>.proto``) followed by its package (field 2,
``12 ...``). This module locates those records by that shape and parses them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

# A lookahead, so that a false start cannot swallow the real one after it.
_RECORD_START = re.compile(rb"\x0a(?=([\x05-\x7f])([A-Za-z0-9_/.\-]+\.proto)\x12)")


def bindings_library() -> Path | None:
    """Path of libxmtpv3.so from the installed xmtp-bindings, if any."""
    spec = importlib.util.find_spec("xmtp_bindings")
    if spec is None or spec.origin is None:
        return None
    lib = Path(spec.origin).parent / "libxmtpv3.so"
    return lib if lib.exists() else None


def _length_prefixes(data: bytes, end: int) -> list[tuple[int, int]]:
    """Candidate (value, start) varints that end exactly at ``end``."""
    found = []
    for width in (1, 2, 3):
        start = end - width
        chunk = data[start:end]
        if len(chunk) != width or chunk[-1] & 0x80 or any(not b & 0x80 for b in chunk[:-1]):
            continue
        value = 0
        for i, b in enumerate(chunk):
            value |= (b & 0x7F) << (7 * i)
        found.append((value, start))
    return found


def embedded_files(blob: bytes) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """All FileDescriptorProtos embedded in ``blob``, by file name."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for m in _RECORD_START.finditer(blob):
        name = m.group(2)
        if m.group(1)[0] != len(name):
            continue
        for length, start in _length_prefixes(blob, m.start()):
            if start == 0 or blob[start - 1] != 0x0A:
                continue
            fd = descriptor_pb2.FileDescriptorProto()
            try:
                fd.ParseFromString(blob[m.start() : m.start() + length])
            except DecodeError:
                continue
            if fd.name == name.decode():
                files.setdefault(fd.name, fd)
                break
    return files
