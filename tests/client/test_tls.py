"""A node serving TLS (``--tls-cert`` / ``--tls-key``) and clients reaching it with credentials; a plaintext
client cannot talk to it. The certificate is made here, self-signed for 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import signal
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pyxmtp.client import ApiCallError, Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig
from tests.node.procs import NodeProcess

pytestmark = pytest.mark.timeout(60)


def self_signed(directory: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pyxmtp test node")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "node.crt", directory / "node.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path, pem


async def test_clients_talk_through_a_tls_node(tmp_path: Path) -> None:
    cert, key, pem = self_signed(tmp_path)
    node = await Node.start(
        NodeConfig(
            host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None, tls_cert=cert, tls_key=key
        )
    )
    try:
        trusted = grpc.ssl_channel_credentials(root_certificates=pem)
        clients = []
        for name in ("alice", "bob"):
            wallet = LocalWalletSigner.generate()
            client = await Client.create(
                node.address, wallet, db_path=tmp_path / f"{name}.db", credentials=trusted
            )
            await client.register(wallet)
            clients.append(client)
        alice, bob = clients
        dm = await alice.conversations.create_dm(bob.inbox_id)
        await dm.send_text("over TLS")
        [joined] = await bob.conversations.sync()
        await joined.sync()
        assert joined.texts() == ["over TLS"]

        wallet = LocalWalletSigner.generate()
        plain = await Client.create(node.address, wallet, db_path=tmp_path / "plain.db", register=False)
        plain.api.timeout = 3
        with pytest.raises(ApiCallError) as info:
            await plain.register(wallet)
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        for client in (*clients, plain):
            await client.close()
    finally:
        await node.stop(grace=0)


async def test_a_half_tls_configuration_is_refused(tmp_path: Path) -> None:
    cert, _, _ = self_signed(tmp_path)
    with pytest.raises(OSError, match="both a certificate and its private key"):
        await Node.start(NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", tls_cert=cert))


async def test_pyxmtp_node_serves_tls_from_the_command_line(tmp_path: Path) -> None:
    cert, key, pem = self_signed(tmp_path)
    node = NodeProcess(
        tmp_path / "data", 0, "--no-rate-limit", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    try:
        await asyncio.to_thread(node.wait_listening)
        assert ", TLS (data in" in node.log()
        wallet = LocalWalletSigner.generate()
        credentials = grpc.ssl_channel_credentials(root_certificates=pem)
        client = await Client.create(node.address, wallet, db_path=tmp_path / "c.db", credentials=credentials)
        await client.register(wallet)
        assert await client.is_registered()
        await client.close()
    finally:
        node.signal(signal.SIGTERM)
        assert await asyncio.to_thread(node.wait) == 0
