"""Protobuf schemas of the deployed XMTP v3 protocol and their generated code.

The ``.proto`` files here mirror xmtp/proto's layout and keep XMTP's package
names (``xmtp.mls.api.v1``, ``xmtp.identity.api.v1``, ...), so gRPC method
paths are the real ones. Generated modules sit next to their schema, e.g.::

    from pyxmtp.proto.mls.api.v1 import mls_pb2, mls_pb2_grpc
    from pyxmtp.proto.identity.associations import association_pb2

Regenerate with ``scripts/gen_proto.py``; never edit ``*_pb2*`` by hand.
"""
