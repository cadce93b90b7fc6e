"""An XMTP v3 node: xmtp-node-go's MlsApi and IdentityApi over gRPC, with per-IP rate limits, an embedded
SQLite store and live subscriptions, so that real libxmtp clients work through it unchanged.

    node = await Node.start(NodeConfig(host="127.0.0.1", port=5556, data_dir=Path("data")))
    ...
    await node.stop()
"""

from .config import NO_CUTOVER_NS, NodeConfig
from .ratelimit import BucketLimit, RateLimits
from .server import Node
from .tarpit import TarpitLimits

__all__ = ["NO_CUTOVER_NS", "BucketLimit", "Node", "NodeConfig", "RateLimits", "TarpitLimits"]
