"""On-chain payments: ``xmtp.org/transactionReference:1.0`` (a transaction that was sent) and
``xmtp.org/walletSendCalls:1.0`` (an EIP-5792 ``wallet_sendCalls`` request for the reader's wallet).

Both are JSON with no parameters, pushed, written as libxmtp writes them (fields in this order, optional
fields left out when absent, compact):

- transaction reference: ``{[namespace], networkId, reference, [metadata: {transactionType, currency,
  amount, decimals, fromAddress, toAddress}]}``; fallback ``[Crypto transaction] Use a blockchain explorer to
  learn more using the transaction hash: <reference>`` (``Crypto transaction`` when the reference is empty);
- wallet send calls: ``{version, chainId, from, calls: [{[to], [data], [value], [gas], [metadata:
  {description, transactionType, ...extra}]}], [capabilities]}``; fallback ``[Transaction request generated]:
  <the JSON>``.

``amount`` is a JSON number (a Rust ``f64``, written as Rust writes it), ``decimals`` a uint32. libxmtp keeps a
call's ``metadata`` extra keys and ``capabilities`` in hash maps, so with more than one key its key order varies
from run to run; ours is the mapping's order. Decoding follows ``serde``: unknown fields are ignored, a
``networkId`` may also be a JSON number (xmtp-js sends one; it reads as its decimal text), optional fields may
be ``null``, and a metadata object's extra keys must all hold strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import jsonwire
from .codec import ContentCodec, check_str, check_u32
from .encoded import ContentTypeId, EncodedContent
from .errors import ContentArgumentError, ContentDecodeError

TRANSACTION_REFERENCE = ContentTypeId("xmtp.org", "transactionReference", 1, 0)
WALLET_SEND_CALLS = ContentTypeId("xmtp.org", "walletSendCalls", 1, 0)

_UINT32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class TransactionMetadata:
    """What a referenced transaction did: ``amount`` of ``currency`` (with ``decimals``) between two addresses."""

    transaction_type: str
    currency: str
    amount: float
    decimals: int
    from_address: str
    to_address: str


@dataclass(frozen=True, slots=True)
class TransactionReference:
    """A transaction sent on chain (``xmtp.org/transactionReference:1.0``): its hash ``reference`` on network
    ``network_id`` (e.g. ``"8453"``, or ``"0x2105"``), in ``namespace`` (e.g. ``"eip155"``) when given."""

    network_id: str
    reference: str
    namespace: str | None = None
    metadata: TransactionMetadata | None = None


@dataclass(frozen=True, slots=True)
class WalletCallMetadata:
    """How to show a call: ``description``, ``transaction_type`` and any ``extra`` string fields."""

    description: str
    transaction_type: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.extra, Mapping):
            raise ContentArgumentError("WalletCallMetadata.extra must be a mapping of str to str")
        object.__setattr__(self, "extra", dict(self.extra))


@dataclass(frozen=True, slots=True)
class WalletCall:
    """One call of a ``wallet_sendCalls`` request (hex strings, as EIP-5792 has them)."""

    to: str | None = None
    data: str | None = None
    value: str | None = None
    gas: str | None = None
    metadata: WalletCallMetadata | None = None


@dataclass(frozen=True, slots=True)
class WalletSendCalls:
    """An EIP-5792 ``wallet_sendCalls`` request (``xmtp.org/walletSendCalls:1.0``) from ``from_address``."""

    version: str
    chain_id: str
    from_address: str
    calls: tuple[WalletCall, ...]
    capabilities: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", tuple(jsonwire.check_sequence(self.calls, "WalletSendCalls.calls")))
        if self.capabilities is not None:
            if not isinstance(self.capabilities, Mapping):
                raise ContentArgumentError("WalletSendCalls.capabilities must be a mapping of str to str")
            object.__setattr__(self, "capabilities", dict(self.capabilities))


# --- transaction reference ----------------------------------------------------------------------------------
def _check_amount(amount: object) -> float:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ContentArgumentError(f"transaction amount must be a number, not {type(amount).__name__}")
    value = float(amount)
    if not math.isfinite(value):
        raise ContentArgumentError("transaction amount must be finite")
    return value


class TransactionReferenceCodec(ContentCodec[TransactionReference]):
    """``xmtp.org/transactionReference:1.0``."""

    content_type = TRANSACTION_REFERENCE
    should_push = True
    encodes = (TransactionReference,)

    def encode(self, value: TransactionReference) -> EncodedContent:
        check_str(value.namespace, "transaction namespace", optional=True)
        check_str(value.network_id, "transaction network_id")
        check_str(value.reference, "transaction reference")
        obj: dict[str, Any] = {}
        if value.namespace is not None:
            obj["namespace"] = value.namespace
        obj["networkId"] = value.network_id
        obj["reference"] = value.reference
        if value.metadata is not None:
            m = value.metadata
            obj["metadata"] = {
                "transactionType": m.transaction_type,
                "currency": m.currency,
                "amount": _check_amount(m.amount),
                "decimals": check_u32(m.decimals, "transaction decimals"),
                "fromAddress": m.from_address,
                "toAddress": m.to_address,
            }
        body = jsonwire.dumps_bytes(obj, "transaction reference")
        return EncodedContent(TRANSACTION_REFERENCE, {}, body, fallback=self.fallback(value))

    @staticmethod
    def fallback(value: TransactionReference) -> str:
        """libxmtp's fallback."""
        if value.reference:
            return (
                "[Crypto transaction] Use a blockchain explorer to learn more using the transaction hash: "
                + value.reference
            )
        return "Crypto transaction"

    def decode(self, encoded: EncodedContent) -> TransactionReference:
        s = str(TRANSACTION_REFERENCE)
        obj = jsonwire.load_object(encoded.content, s)
        raw_metadata = obj.get("metadata")
        metadata = None
        if raw_metadata is not None:
            m = jsonwire.as_object(raw_metadata, s, "metadata")
            metadata = TransactionMetadata(
                transaction_type=jsonwire.req_str(m, "transactionType", s),
                currency=jsonwire.req_str(m, "currency", s),
                amount=_read_amount(m.get("amount"), s),
                decimals=_read_u32(m.get("decimals"), s, "decimals"),
                from_address=jsonwire.req_str(m, "fromAddress", s),
                to_address=jsonwire.req_str(m, "toAddress", s),
            )
        return TransactionReference(
            network_id=_read_network_id(obj.get("networkId"), s),
            reference=jsonwire.req_str(obj, "reference", s),
            namespace=jsonwire.opt_str(obj, "namespace", s),
            metadata=metadata,
        )


def _read_network_id(value: Any, structure: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise ContentDecodeError(structure, "field 'networkId' is missing or not a string or number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return jsonwire.format_f64(value)
    raise ContentDecodeError(structure, "field 'networkId' is not a string or number")


def _read_amount(value: Any, structure: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContentDecodeError(structure, "field 'amount' is missing or not a number")
    amount = float(value)
    if not math.isfinite(amount):
        raise ContentDecodeError(structure, "field 'amount' is out of range")
    return amount


def _read_u32(value: Any, structure: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise ContentDecodeError(structure, f"field {key!r} is missing or not a uint32")
    return value


# --- wallet send calls --------------------------------------------------------------------------------------
_FIXED_METADATA_KEYS = ("description", "transactionType")


def _call_json(call: WalletCall) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key in ("to", "data", "value", "gas"):
        item = getattr(call, key)
        check_str(item, f"wallet call {key}", optional=True)
        if item is not None:
            obj[key] = item
    if call.metadata is not None:
        m = call.metadata
        check_str(m.description, "wallet call description")
        check_str(m.transaction_type, "wallet call transaction_type")
        jsonwire.check_str_map(m.extra, "wallet call metadata extra")
        clash = [k for k in _FIXED_METADATA_KEYS if k in m.extra]
        if clash:
            raise ContentArgumentError(f"wallet call metadata extra may not hold {clash}")
        obj["metadata"] = {"description": m.description, "transactionType": m.transaction_type, **m.extra}
    return obj


class WalletSendCallsCodec(ContentCodec[WalletSendCalls]):
    """``xmtp.org/walletSendCalls:1.0``."""

    content_type = WALLET_SEND_CALLS
    should_push = True
    encodes = (WalletSendCalls,)

    def encode(self, value: WalletSendCalls) -> EncodedContent:
        for key, text in (
            ("version", value.version),
            ("chain_id", value.chain_id),
            ("from", value.from_address),
        ):
            check_str(text, f"wallet send calls {key}")
        calls = []
        for call in value.calls:
            if not isinstance(call, WalletCall):
                raise ContentArgumentError("WalletSendCalls.calls must hold WalletCall values")
            calls.append(_call_json(call))
        obj: dict[str, Any] = {
            "version": value.version,
            "chainId": value.chain_id,
            "from": value.from_address,
            "calls": calls,
        }
        if value.capabilities is not None:
            jsonwire.check_str_map(value.capabilities, "wallet send calls capabilities")
            obj["capabilities"] = dict(value.capabilities)
        text = jsonwire.dumps(obj, "wallet send calls")
        return EncodedContent(
            WALLET_SEND_CALLS, {}, text.encode("utf-8"), fallback=f"[Transaction request generated]: {text}"
        )

    def decode(self, encoded: EncodedContent) -> WalletSendCalls:
        s = str(WALLET_SEND_CALLS)
        obj = jsonwire.load_object(encoded.content, s)
        calls = tuple(
            _read_call(jsonwire.as_object(item, s, "a call"), s)
            for item in jsonwire.as_list(obj.get("calls"), s, "field 'calls'")
        )
        capabilities = obj.get("capabilities")
        return WalletSendCalls(
            version=jsonwire.req_str(obj, "version", s),
            chain_id=jsonwire.req_str(obj, "chainId", s),
            from_address=jsonwire.req_str(obj, "from", s),
            calls=calls,
            capabilities=None if capabilities is None else jsonwire.str_map(capabilities, s, "capabilities"),
        )


def _read_call(obj: dict[str, Any], structure: str) -> WalletCall:
    raw = obj.get("metadata")
    metadata = None
    if raw is not None:
        m = jsonwire.as_object(raw, structure, "a call's metadata")
        extra = {k: v for k, v in m.items() if k not in _FIXED_METADATA_KEYS}
        metadata = WalletCallMetadata(
            description=jsonwire.req_str(m, "description", structure),
            transaction_type=jsonwire.req_str(m, "transactionType", structure),
            extra=jsonwire.str_map(extra, structure, "a call's metadata"),
        )
    return WalletCall(
        to=jsonwire.opt_str(obj, "to", structure),
        data=jsonwire.opt_str(obj, "data", structure),
        value=jsonwire.opt_str(obj, "value", structure),
        gas=jsonwire.opt_str(obj, "gas", structure),
        metadata=metadata,
    )
