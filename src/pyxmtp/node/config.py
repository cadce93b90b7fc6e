"""Settings of a node (the CLI builds one from its flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyxmtp.identity.signatures import SmartContractWalletVerifier

from .limits import PAGE_BYTES
from .ratelimit import RateLimits
from .tarpit import TarpitLimits

#: What FetchD14nCutover answers: "not scheduled". libxmtp migration clients switch to d14n once
#: ``now_ns >= cutover`` after casting it to i64, so 0 or anything above i64::MAX would switch them at once.
NO_CUTOVER_NS = 2**63 - 1
#: xmtp-node-go's ``--max-msg-size`` default.
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
#: The least ``max_message_bytes`` may be: a page of replies (see :mod:`pyxmtp.node.limits`) and some room.
MIN_MESSAGE_BYTES = PAGE_BYTES + 1024 * 1024


@dataclass(slots=True)
class NodeConfig:
    host: str = "127.0.0.1"
    port: int = 5556  # 0: pick a free port (Node.port tells which)
    data_dir: Path = field(default_factory=lambda: Path("./pyxmtp-data"))
    #: None switches rate limiting off.
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    #: How refusals of an IP past its budget are paced (:mod:`pyxmtp.node.tarpit`); None: answered at once.
    tarpit: TarpitLimits | None = field(default_factory=TarpitLimits)
    #: SQLite ``PRAGMA synchronous`` for the WAL: FULL (default: fsync per commit), EXTRA or NORMAL.
    sqlite_synchronous: str = "FULL"
    sqlite_read_threads: int = 4
    #: A PostgreSQL connection URI (``postgresql://user@host/db``): store there instead of SQLite in data_dir.
    database_url: str | None = None
    #: The PostgreSQL schema for the node's tables (created if missing); None: the connection's search_path.
    database_schema: str | None = None
    #: A streaming replica of ``database_url`` to serve the API's reads from, read-your-writes kept (a read waits
    #: up to ``read_replica_wait`` seconds for it to catch up, then reads the primary); None: read the primary.
    read_database_url: str | None = None
    read_replica_wait: float = 0.05
    #: A live subscription may fall this many messages behind before it is cut off with ABORTED.
    subscriber_backlog: int = 1024
    #: ... or this many bytes of messages (one message bigger than this alone is let through).
    subscriber_backlog_bytes: int = 8 * 1024 * 1024
    #: Seconds in-flight calls get to finish on shutdown.
    grace_period: float = 5.0
    #: The largest gRPC message the node receives or sends (xmtp-node-go: 50 MB); replies stay within a page's
    #: budget below it (:data:`pyxmtp.node.limits.PAGE_BYTES`), so it may not be set lower than that and some room.
    max_message_bytes: int = MAX_MESSAGE_BYTES
    d14n_cutover_ns: int = NO_CUTOVER_NS
    #: Checks ERC-1271/ERC-6492 signatures (identity updates and VerifySmartContractWalletSignatures).
    scw_verifier: SmartContractWalletVerifier | None = None
    #: Serve TLS with this PEM certificate chain and private key (both, or neither: plaintext).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Serve libxmtp's history-server HTTP API (device-sync archives, ``node.history``) on this port, on ``host``
    #: (0: a free port; None: not at all). The CLI's default is 5558, node-sdk's local history-server URL.
    history_port: int | None = None
    #: Where uploads are kept; None: ``data_dir / "history"`` (also with PostgreSQL).
    history_dir: Path | None = None
    #: Total bytes the history server stores before it refuses uploads (507).
    history_max_bytes: int = 10 * 1024**3
    #: Listen with SO_REUSEPORT, beside the other workers of ``pyxmtp node --workers`` on the same port.
    reuse_port: bool = False

    def __post_init__(self) -> None:
        if self.read_database_url and not self.database_url:
            raise ValueError("read_database_url is a replica of database_url, which is not set")
        if self.read_replica_wait < 0:
            raise ValueError(f"read_replica_wait must not be negative, not {self.read_replica_wait}")
        if self.max_message_bytes < MIN_MESSAGE_BYTES:
            raise ValueError(
                f"max_message_bytes must be at least {MIN_MESSAGE_BYTES} (a page of a reply, and room), "
                f"not {self.max_message_bytes}"
            )
