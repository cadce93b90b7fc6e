"""What the node accepts and what one reply may carry: every bound of the MlsApi in one place.

A request over a bound is refused with INVALID_ARGUMENT naming the bound, before anything reaches the store, so
both stores (SQLite and PostgreSQL) answer alike. Where xmtp-node-go has a limit the node keeps it; where it has
none (it relies on its 50 MB gRPC receive limit) the bound is chosen never to refuse what libxmtp 1.10 sends.

Sizes, end to end:

- the node receives and sends at most ``NodeConfig.max_message_bytes`` per gRPC message (50 MiB, xmtp-node-go's
  ``--max-msg-size``); libxmtp receives and sends at most 25 MiB (its ``GRPC_PAYLOAD_LIMIT``);
- a published payload (a group message's MLS bytes, a welcome's data or pointer) is at most
  :data:`MAX_PAYLOAD_BYTES` (8 MiB): XMTP's inline attachments stay under 1 MB, and a commit adding a
  full group (250 inboxes, 2,500 installations, a key package each) is about 5 MB;
- a page of a query (QueryGroupMessages, QueryWelcomeMessages, BatchQueryCommitLog, the history replay of a
  subscription) holds at most 100 records and stops before the record that would take it past
  :data:`PAGE_BYTES` (20 MiB), but always holds the first one, so every reply fits libxmtp's 25 MiB and the
  node's 50 MiB. A page cut short by bytes still carries its last id as the paging cursor, so a client that
  follows the cursor reads on; libxmtp stops at a page of fewer than 100 and reads the rest at its next sync,
  from the cursor it stored (nothing is skipped).
"""

from __future__ import annotations

#: The largest id, and so the largest cursor: ids are signed 64-bit integers in both stores.
MAX_ID = 2**63 - 1

# --- sizes of what is published -----------------------------------------------------------------------------------
#: A group message's data (the TLS-serialized MLSMessage), a welcome's data, a welcome pointer.
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
#: A group id (libxmtp's are 16 bytes). PostgreSQL indexes ids, and an index entry must stay under ~2.7 KB.
MAX_GROUP_ID_BYTES = 256
#: An installation key (an Ed25519 public key: 32 bytes).
MAX_INSTALLATION_KEY_BYTES = 256
#: A group message's sender HMAC (libxmtp's: HMAC-SHA256, 32 bytes).
MAX_SENDER_HMAC_BYTES = 256
#: A welcome's HPKE public key (X25519: 32 bytes; X-Wing: 1,216).
MAX_HPKE_PUBLIC_KEY_BYTES = 4096
#: A welcome's encrypted WelcomeMetadata (a message cursor: tens of bytes).
MAX_WELCOME_METADATA_BYTES = 4096
#: A key package (libxmtp's, with its X-Wing key: about 1.8 KB).
MAX_KEY_PACKAGE_BYTES = 64 * 1024
#: A commit log entry (a PlaintextCommitLogEntry: about 150 bytes) and its signature (about 100 bytes).
MAX_COMMIT_LOG_ENTRY_BYTES = 16 * 1024
MAX_COMMIT_LOG_SIGNATURE_BYTES = 1024

# --- lengths of lists in one request ------------------------------------------------------------------------------
#: SendGroupMessages: libxmtp sends one intent's payloads per call (one, or a proposal per member), pyxmtp at most
#: 50; the bytes of a request are bounded by the gRPC limit already, this bounds the work per message.
MAX_GROUP_MESSAGES_PER_REQUEST = 5000
#: SendWelcomeMessages: libxmtp sends at most 50 per call, pyxmtp too.
MAX_WELCOMES_PER_REQUEST = 5000
#: FetchKeyPackages: libxmtp asks for every installation it adds at once (250 inboxes, 10 installations each).
MAX_KEY_PACKAGES_PER_REQUEST = 10_000
#: GetNewestGroupMessage: libxmtp asks for at most 1,000 groups per call.
MAX_NEWEST_GROUP_IDS = 1000
#: SubscribeGroupMessages / SubscribeWelcomeMessages: libxmtp subscribes to all its groups in one call.
MAX_SUBSCRIPTION_FILTERS = 100_000
#: xmtp-node-go's batch limits for the commit log (``maxBatchInserts``, ``maxBatchQueries``).
MAX_COMMIT_LOG_PUBLISHES = 10
MAX_COMMIT_LOG_QUERIES = 20

# --- replies --------------------------------------------------------------------------------------------------------
#: What a page (or a reply that lists one record per requested key) may carry; see the module docstring.
PAGE_BYTES = 20 * 1024 * 1024
