"""key-schedule.json: every epoch's GroupContext, joiner/welcome secrets, every epoch secret, the exporter
output and the external public key, chained from ``initial_init_secret`` (RFC 9420 section 8).

Each epoch is also re-derived from its joiner secret (the new-member path) and its secrets round-trip through
:meth:`EpochSecrets.to_bytes`.
"""

from __future__ import annotations

from ..codec import encode
from ..constants import ProtocolVersion
from ..crypto import get_suite
from ..key_schedule import EpochSecrets, advance_epoch, epoch_secrets_from_joiner, welcome_secret
from ..messages.group_info import GroupContext
from . import Case, expect

_FIELDS = (
    "sender_data_secret",
    "encryption_secret",
    "exporter_secret",
    "external_secret",
    "confirmation_key",
    "membership_key",
    "resumption_psk",
    "epoch_authenticator",
    "init_secret",
)


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    group_id = _h(case["group_id"])
    init_secret = _h(case["initial_init_secret"])
    for n, epoch in enumerate(case["epochs"]):
        where = f"epoch {n}"
        context = GroupContext(
            ProtocolVersion.mls10,
            suite.id,
            group_id,
            n,
            _h(epoch["tree_hash"]),
            _h(epoch["confirmed_transcript_hash"]),
            (),
        )
        context_bytes = encode(context)
        expect(f"{where} group_context", context_bytes, _h(epoch["group_context"]))
        psk = _h(epoch["psk_secret"])
        schedule = advance_epoch(suite, init_secret, _h(epoch["commit_secret"]), context, psk)
        expect(f"{where} joiner_secret", schedule.joiner_secret, _h(epoch["joiner_secret"]))
        expect(f"{where} welcome_secret", schedule.welcome_secret, _h(epoch["welcome_secret"]))
        secrets = schedule.secrets
        for name in _FIELDS:
            expect(f"{where} {name}", getattr(secrets, name), _h(epoch[name]))
        ex = epoch["exporter"]
        # the reference implementations pass the label's hex text itself as the (string) label
        got = secrets.exporter(suite, ex["label"], _h(ex["context"]), ex["length"])
        expect(f"{where} exporter.secret", got, _h(ex["secret"]))
        expect(f"{where} external_pub", secrets.external_pub(suite), _h(epoch["external_pub"]))

        joined = epoch_secrets_from_joiner(suite, schedule.joiner_secret, psk, context_bytes)
        expect(f"{where} secrets from joiner", joined, secrets)
        expect(
            f"{where} welcome from joiner",
            welcome_secret(suite, schedule.joiner_secret, psk),
            schedule.welcome_secret,
        )
        expect(f"{where} serialised secrets", EpochSecrets.from_bytes(secrets.to_bytes()), secrets)
        init_secret = secrets.init_secret
