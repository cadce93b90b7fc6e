"""The JSON content types (transaction reference, wallet send calls, actions, intent) and the JSON writer and
reader behind them. The exact bytes expected here were read off libxmtp 1.10.0's encoders; the live
comparisons with them are in test_content_libxmtp.py."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.conversations.content import (
    ACTIONS,
    INTENT,
    TRANSACTION_REFERENCE,
    WALLET_SEND_CALLS,
    Action,
    Actions,
    ActionStyle,
    ContentArgumentError,
    ContentDecodeError,
    ContentTypeId,
    EncodedContent,
    Intent,
    TransactionMetadata,
    TransactionReference,
    WalletCall,
    WalletCallMetadata,
    WalletSendCalls,
    decode_content,
    encode_content,
    encode_for_sending,
)
from pyxmtp.conversations.content.actions import format_time, parse_time
from pyxmtp.conversations.content.jsonwire import dumps, format_f64, loads

UTC = dt.UTC


# --- the JSON writer and reader -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (100.0, "100.0"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e16"),
        (1.5e16, "1.5e16"),
        (1e21, "1e21"),
        (0.00001, "0.00001"),
        (0.000012, "0.000012"),
        (1e-6, "1e-6"),
        (1.25e-7, "1.25e-7"),
        (123456.789, "123456.789"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (-2.5, "-2.5"),
    ],
)
def test_floats_are_written_as_rust_writes_them(value: float, text: str) -> None:
    assert format_f64(value) == text
    assert float(text) == value


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_have_no_json(bad: float) -> None:
    with pytest.raises(ContentArgumentError):
        format_f64(bad)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips(value: float) -> None:
    assert float(format_f64(value)) == value


def test_writer() -> None:
    value = {"b": [1, -2, 2**64 - 1, True, None, 'é"\\\n\u0001\u007f/'], "a": {"z": 0.5}}
    assert (
        dumps(value, "x")
        == '{"b":[1,-2,18446744073709551615,true,null,"é\\"\\\\\\n\\u0001\x7f/"],"a":{"z":0.5}}'
    )
    for bad in ({1: "x"}, [2**64], [-(2**63) - 1], {"s": {1, 2}}, ["\ud800"], [float("nan")]):
        with pytest.raises(ContentArgumentError):
            dumps(bad, "x")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1,"a":2}', "appears twice"),
        (b'{"a":NaN}', "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b'"\\ud800"', "lone surrogate"),
        (b'{"\\udc00":1}', "lone surrogate"),
        (b"\xef\xbb\xbf{}", "not JSON"),
        (b"\xff", "not UTF-8"),
        (b"[" * 50_000, "not JSON"),
        (b"1" * 5000, "not JSON"),  # past Python's int digit limit
        (b"{} x", "not JSON"),
    ],
)
def test_reader_is_strict(data: bytes, reason: str) -> None:
    with pytest.raises(ContentDecodeError, match=reason):
        loads(data, "x")


# --- transaction reference ----------------------------------------------------------------------------------
TX = TransactionReference(
    network_id="8453",
    reference="0xabc",
    namespace="eip155",
    metadata=TransactionMetadata("transfer", "USDC", 1.5, 6, "0xfrom", "0xto"),
)


def test_transaction_reference_wire_form() -> None:
    ec = encode_content(TX)
    assert ec.content_type == TRANSACTION_REFERENCE
    assert ec.parameters == {}
    assert ec.content == (
        b'{"namespace":"eip155","networkId":"8453","reference":"0xabc","metadata":{"transactionType":"transfer",'
        b'"currency":"USDC","amount":1.5,"decimals":6,"fromAddress":"0xfrom","toAddress":"0xto"}}'
    )
    assert ec.fallback == (
        "[Crypto transaction] Use a blockchain explorer to learn more using the transaction hash: 0xabc"
    )
    assert decode_content(ec.to_bytes()) == TX
    minimal = encode_content(TransactionReference("1", ""))
    assert minimal.content == b'{"networkId":"1","reference":""}'
    assert minimal.fallback == "Crypto transaction"
    assert encode_for_sending(TX)[1] is True
    # an integral amount is still a float, as Rust's f64
    whole = TransactionReference("1", "r", metadata=TransactionMetadata("t", "c", 2, 0, "a", "b"))
    assert b'"amount":2.0' in encode_content(whole).content


def test_transaction_reference_as_xmtp_js_sends_it() -> None:
    """xmtp-js writes networkId as a number and other field orders; unknown fields are ignored."""
    body = (
        b'{"reference":"0x1","networkId":1,"extra":[1],"metadata":{"transactionType":"transfer",'
        b'"currency":"ETH","amount":1,"decimals":18,"fromAddress":"0xa","toAddress":"0xb"},"namespace":null}'
    )
    assert decode_content(EncodedContent(TRANSACTION_REFERENCE, {}, body)) == TransactionReference(
        "1", "0x1", None, TransactionMetadata("transfer", "ETH", 1.0, 18, "0xa", "0xb")
    )
    for network, text in (
        (b"2.5", "2.5"),
        (b"1e400", None),
        (b"-3", "-3"),
        (b"100000000000000000000", "1e20"),
    ):
        data = b'{"reference":"r","networkId":' + network + b"}"
        if text is None:
            with pytest.raises(ContentDecodeError):
                decode_content(EncodedContent(TRANSACTION_REFERENCE, {}, data))
        else:
            value = decode_content(EncodedContent(TRANSACTION_REFERENCE, {}, data))
            assert isinstance(value, TransactionReference) and value.network_id == text


@pytest.mark.parametrize(
    "body",
    [
        b'{"reference":"r"}',
        b'{"reference":"r","networkId":true}',
        b'{"reference":"r","networkId":null}',
        b'{"networkId":"1"}',
        b'{"reference":5,"networkId":"1"}',
        b'{"reference":"r","networkId":"1","metadata":[]}',
        b'{"reference":"r","networkId":"1","metadata":{"transactionType":"t","currency":"c","amount":"1",'
        b'"decimals":1,"fromAddress":"a","toAddress":"b"}}',
        b'{"reference":"r","networkId":"1","metadata":{"transactionType":"t","currency":"c","amount":1,'
        b'"decimals":1.0,"fromAddress":"a","toAddress":"b"}}',
        b'{"reference":"r","networkId":"1","metadata":{"transactionType":"t","currency":"c","amount":1,'
        b'"decimals":-1,"fromAddress":"a","toAddress":"b"}}',
        b'{"reference":"r","networkId":"1","metadata":{"transactionType":"t","currency":"c","amount":1,'
        b'"decimals":4294967296,"fromAddress":"a","toAddress":"b"}}',
        b'{"reference":"r","networkId":"1","metadata":{"transactionType":"t","currency":"c","amount":1e999,'
        b'"decimals":1,"fromAddress":"a","toAddress":"b"}}',
        b'{"reference":"r","networkId":"1","metadata":{"currency":"c","amount":1,"decimals":1,'
        b'"fromAddress":"a","toAddress":"b"}}',
        b"[]",
    ],
)
def test_transaction_reference_malformed(body: bytes) -> None:
    with pytest.raises(ContentDecodeError):
        decode_content(EncodedContent(TRANSACTION_REFERENCE, {}, body))


def test_transaction_reference_misuse() -> None:
    for metadata in (
        TransactionMetadata("t", "c", float("nan"), 1, "a", "b"),
        TransactionMetadata("t", "c", "1", 1, "a", "b"),  # type: ignore[arg-type]
        TransactionMetadata("t", "c", True, 1, "a", "b"),
        TransactionMetadata("t", "c", 1.0, -1, "a", "b"),
        TransactionMetadata("t", "c", 1.0, 2**32, "a", "b"),
    ):
        with pytest.raises(ContentArgumentError):
            encode_content(TransactionReference("1", "r", metadata=metadata))
    with pytest.raises(ContentArgumentError):
        encode_content(TransactionReference(1, "r"))  # type: ignore[arg-type]


# --- wallet send calls --------------------------------------------------------------------------------------
CALLS = WalletSendCalls(
    version="1.0",
    chain_id="0x2105",
    from_address="0xfrom",
    calls=(
        WalletCall(
            to="0xto",
            data="0x",
            value="0x10",
            gas="0x5208",
            metadata=WalletCallMetadata("Pay", "transfer", {"k": "v"}),
        ),
        WalletCall(data="0xdeploy"),
    ),
    capabilities={"paymasterService": "https://pm"},
)


def test_wallet_send_calls_wire_form() -> None:
    ec = encode_content(CALLS)
    assert ec.content_type == WALLET_SEND_CALLS
    expected = (
        '{"version":"1.0","chainId":"0x2105","from":"0xfrom","calls":[{"to":"0xto","data":"0x","value":"0x10",'
        '"gas":"0x5208","metadata":{"description":"Pay","transactionType":"transfer","k":"v"}},'
        '{"data":"0xdeploy"}],"capabilities":{"paymasterService":"https://pm"}}'
    )
    assert ec.content == expected.encode()
    assert ec.fallback == "[Transaction request generated]: " + expected
    assert decode_content(ec.to_bytes()) == CALLS
    bare = WalletSendCalls("1.0", "0x1", "0xf", [])
    assert encode_content(bare).content == b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":[]}'
    assert decode_content(encode_content(bare)) == bare
    assert encode_for_sending(CALLS)[1] is True


def test_wallet_send_calls_decode() -> None:
    # xmtp-js field order, nulls for optional fields, unknown top-level fields ignored
    body = (
        b'{"chainId":"0x89","version":"1.0","from":"0xf","calls":[{"value":"0x1","to":"0xt","gas":null,'
        b'"metadata":{"transactionType":"t","description":"d","a":"1","b":"2"}}],"capabilities":null,"x":1}'
    )
    value = decode_content(EncodedContent(WALLET_SEND_CALLS, {}, body))
    assert value == WalletSendCalls(
        "1.0",
        "0x89",
        "0xf",
        (WalletCall(to="0xt", value="0x1", metadata=WalletCallMetadata("d", "t", {"a": "1", "b": "2"})),),
    )
    for bad in (
        b'{"version":"1.0","chainId":"0x1","from":"0xf"}',  # no calls
        b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":{}}',
        b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":[1]}',
        b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":[{"to":1}]}',
        b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":[{"metadata":{"description":"d"}}]}',
        b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":[{"metadata":{"description":"d","transactionType":"t","n":1}}]}',
        b'{"version":"1.0","chainId":"0x1","from":"0xf","calls":[],"capabilities":{"a":1}}',
        b'{"version":1,"chainId":"0x1","from":"0xf","calls":[]}',
    ):
        with pytest.raises(ContentDecodeError):
            decode_content(EncodedContent(WALLET_SEND_CALLS, {}, bad))


def test_wallet_send_calls_misuse() -> None:
    with pytest.raises(ContentArgumentError, match="may not hold"):
        encode_content(
            WalletSendCalls(
                "1", "1", "f", (WalletCall(metadata=WalletCallMetadata("d", "t", {"description": "x"})),)
            )
        )
    with pytest.raises(ContentArgumentError):
        encode_content(WalletSendCalls("1", "1", "f", ("not a call",)))  # type: ignore[arg-type]
    with pytest.raises(ContentArgumentError):
        encode_content(WalletSendCalls("1", "1", "f", (), {"k": 1}))  # type: ignore[dict-item]
    with pytest.raises(ContentArgumentError):
        WalletSendCalls("1", "1", "f", "calls")  # type: ignore[arg-type]


# --- actions ------------------------------------------------------------------------------------------------
WHEN = dt.datetime(2023, 11, 14, 22, 13, 20, 123999, tzinfo=UTC)
MENU = Actions(
    id="menu-1",
    description="Pick one",
    actions=(
        Action("yes", "Yes ✓", style=ActionStyle.PRIMARY, expires_at=WHEN),
        Action("no", "No", image_url="https://img/no.png", style=ActionStyle.DANGER),
        Action("later", "Later"),
    ),
    expires_at=WHEN,
)


def test_actions_wire_form() -> None:
    ec = encode_content(MENU)
    assert ec.content_type == ACTIONS == ContentTypeId("coinbase.com", "actions", 1, 0)
    assert (
        ec.content
        == (
            '{"id":"menu-1","description":"Pick one","actions":[{"id":"yes","label":"Yes ✓","style":"primary",'
            '"expiresAt":"2023-11-14T22:13:20.123Z"},{"id":"no","label":"No","imageUrl":"https://img/no.png",'
            '"style":"danger"},{"id":"later","label":"Later"}],"expiresAt":"2023-11-14T22:13:20.123Z"}'
        ).encode()
    )
    assert ec.fallback == "Pick one\n\n[1] Yes ✓\n[2] No\n[3] Later\n\nReply with the number to select"
    back = decode_content(ec.to_bytes())
    assert isinstance(back, Actions)
    millis = WHEN.replace(microsecond=123000)  # written to the millisecond
    assert back == Actions(
        MENU.id,
        MENU.description,
        (
            Action("yes", "Yes ✓", style=ActionStyle.PRIMARY, expires_at=millis),
            MENU.actions[1],
            MENU.actions[2],
        ),
        millis,
    )
    assert encode_for_sending(MENU)[1] is True


def test_actions_decode_aliases_and_times() -> None:
    body = (
        b'{"id":"m","description":"d","actions":[{"id":"a","label":"A","image_url":"https://i",'
        b'"expires_at":"2024-02-29T23:59:60.5+01:30","style":null}],"expires_at":null}'
    )
    value = decode_content(EncodedContent(ACTIONS, {}, body))
    assert value == Actions(
        "m",
        "d",
        (Action("a", "A", "https://i", None, dt.datetime(2024, 2, 29, 22, 29, 59, 999999, tzinfo=UTC)),),
    )
    for bad in (
        b'{"id":"m","description":"d","actions":[{"id":"a","label":"A","style":"loud"}]}',
        b'{"id":"m","description":"d","actions":[{"id":"a","label":"A","expiresAt":"tomorrow"}]}',
        b'{"id":"m","description":"d","actions":[{"id":"a","label":"A","expiresAt":"2024-13-01T00:00:00Z"}]}',
        b'{"id":"m","description":"d","actions":[{"id":"a","label":"A","expiresAt":5}]}',
        b'{"id":"m","description":"d","actions":[{"id":"a","label":"A","imageUrl":"x","image_url":"y"}]}',
        b'{"id":"m","description":"d","actions":[{"id":"a"}]}',
        b'{"id":"m","description":"d"}',
        b'{"id":"m","description":"d","actions":[],"expiresAt":"2024-01-01"}',
    ):
        with pytest.raises(ContentDecodeError):
            decode_content(EncodedContent(ACTIONS, {}, bad))
    # libxmtp does not check the count or the ids on decode; neither do we
    many = {"id": "m", "description": "d", "actions": [{"id": "x", "label": "x"}] * 11}
    value = decode_content(EncodedContent(ACTIONS, {}, json.dumps(many).encode()))
    assert isinstance(value, Actions) and len(value.actions) == 11


def test_actions_misuse() -> None:
    one = Action("a", "A")
    for actions in ((), tuple(Action(str(i), "x") for i in range(11)), (one, one)):
        with pytest.raises(ContentArgumentError):
            encode_content(Actions("m", "d", actions))
    with pytest.raises(ContentArgumentError, match="timezone-aware"):
        encode_content(Actions("m", "d", (one,), dt.datetime(2024, 1, 1)))
    with pytest.raises(ContentArgumentError):
        encode_content(Actions("m", "d", (Action("a", "A", style="loud"),)))  # type: ignore[arg-type]
    assert len(encode_content(Actions("m", "d", tuple(Action(str(i), "x") for i in range(10)))).content) > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02t03:04:05.1z", dt.datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
        ("2024-01-02 03:04:05.123456789-02:00", dt.datetime(2024, 1, 2, 5, 4, 5, 123456, tzinfo=UTC)),
    ],
)
def test_rfc3339(text: str, expected: dt.datetime) -> None:
    assert parse_time(text, "x") == expected


def test_time_format() -> None:
    tz = dt.timezone(dt.timedelta(hours=-5))
    assert format_time(dt.datetime(5, 1, 2, 19, 4, 5, 999, tzinfo=tz), "t") == "0005-01-03T00:04:05.000Z"


# --- intent -------------------------------------------------------------------------------------------------
def test_intent_wire_form() -> None:
    intent = Intent("menu-1", "yes", {"note": "ü", "n": [1, 2.5, None, {"deep": True}]})
    ec = encode_content(intent)
    assert ec.content_type == INTENT
    assert (
        ec.content
        == '{"id":"menu-1","actionId":"yes","metadata":{"note":"ü","n":[1,2.5,null,{"deep":true}]}}'.encode()
    )
    assert ec.fallback == "User selected action: yes"
    assert decode_content(ec.to_bytes()) == intent
    assert encode_content(Intent("m", "a")).content == b'{"id":"m","actionId":"a"}'
    alias = decode_content(EncodedContent(INTENT, {}, b'{"id":"m","action_id":"a","metadata":null}'))
    assert alias == Intent("m", "a")
    assert encode_for_sending(intent)[1] is True


def test_intent_metadata_limit() -> None:
    fits = {"k": "x" * (10 * 1024 - len('{"k":""}'))}
    assert len(encode_content(Intent("m", "a", fits)).content) > 10 * 1024
    with pytest.raises(ContentArgumentError, match="over the 10240 limit"):
        encode_content(Intent("m", "a", {"k": fits["k"] + "x"}))
    with pytest.raises(ContentArgumentError):
        encode_content(Intent("m", "a", ["not", "a", "mapping"]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":"m"}',
        b'{"id":"m","actionId":1}',
        b'{"id":"m","actionId":"a","metadata":[]}',
        b'{"actionId":"a"}',
    ],
)
def test_intent_malformed(body: bytes) -> None:
    with pytest.raises(ContentDecodeError):
        decode_content(EncodedContent(INTENT, {}, body))


# --- arbitrary input ----------------------------------------------------------------------------------------
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=6)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "actionId",
                    "networkId",
                    "reference",
                    "metadata",
                    "calls",
                    "actions",
                    "label",
                    "description",
                    "expiresAt",
                    "version",
                    "chainId",
                    "from",
                    "amount",
                    "decimals",
                    "style",
                    "to",
                    "x",
                ]
            ),
            inner,
            max_size=8,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.sampled_from([TRANSACTION_REFERENCE, WALLET_SEND_CALLS, ACTIONS, INTENT]), _json)
def test_decoding_arbitrary_json_raises_only_typed_errors(content_type: Any, value: Any) -> None:
    data = json.dumps(value).encode()
    try:
        decoded = decode_content(EncodedContent(content_type, {}, data))
    except ContentDecodeError:
        return
    assert isinstance(decoded, TransactionReference | WalletSendCalls | Actions | Intent)
