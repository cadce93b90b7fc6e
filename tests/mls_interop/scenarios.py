"""The scenarios our driver runs: the welcome-join, application, commit and external-join test plans of the IETF
MLS interop harness (its ``configs/*.json``), written here in the harness's script format. Steps refer to
earlier steps by index (0 is the first step).
"""

from __future__ import annotations

from typing import Any

Script = list[dict[str, Any]]


def s(action: str, actor: str | None = None, **params: Any) -> dict[str, Any]:
    return {"action": action, **({"actor": actor} if actor else {}), **params}


def _group(*members: str) -> dict[str, Any]:
    return s("createGroup", "alice", members=list(members))


# required_capabilities with no requirements, and an empty external_senders list (protobuf-JSON base64)
GCE = [{"extension_type": 3, "extension_data": "AAAA"}, {"extension_type": 5, "extension_data": "AA=="}]

WELCOME_JOIN: dict[str, Script] = {
    "no_path_secret": [
        _group(),
        s("createKeyPackage", "bob"),
        s("addProposal", "alice", keyPackage=1),
        s("fullCommit", "alice", byReference=[2], joiners=["bob"]),
    ],
    "with_path_secret": [
        _group(),
        s("createKeyPackage", "bob"),
        s("addProposal", "alice", keyPackage=1),
        s("fullCommit", "alice", byReference=[2], joiners=["bob"], force_path=True),
    ],
    "with_psk": [
        _group(),
        s("createKeyPackage", "bob"),
        s("addProposal", "alice", keyPackage=1),
        s("installExternalPSK", clients=["alice", "bob"]),
        s("externalPSKProposal", "alice", pskID=3),
        s("fullCommit", "alice", byReference=[2, 4], joiners=["bob"]),
    ],
    "with_external_tree": [
        _group(),
        s("createKeyPackage", "bob"),
        s("addProposal", "alice", keyPackage=1),
        s("fullCommit", "alice", byReference=[2], joiners=["bob"], external_tree=True),
    ],
}


def _protect(n: int) -> dict[str, Any]:
    return s("protect", "alice", authenticatedData=f"ad{n}", plaintext=f"message {n}")


APPLICATION: dict[str, Script] = {
    "in_order": [
        _group("bob"),
        *(_protect(n) for n in (1, 2, 3)),
        *(s("unprotect", "bob", ciphertext=k) for k in (1, 2, 3)),
    ],
    "out_of_order_within_epoch": [
        _group("bob"),
        *(_protect(n) for n in (1, 2, 3)),
        *(s("unprotect", "bob", ciphertext=k) for k in (3, 2, 1)),
    ],
    "out_of_order_across_epochs": [
        _group("bob"),
        _protect(1),
        _protect(2),
        s("fullCommit", "alice", members=["bob"]),
        _protect(3),
        _protect(4),
        *(s("unprotect", "bob", ciphertext=k) for k in (5, 4, 2, 1)),
    ],
}


def _all_together(proposer: str) -> Script:
    """One commit with every proposal kind, by reference (from ``proposer``) and by value."""
    by_reference = [
        s("addProposal", proposer, keyPackage=8),
        s("removeProposal", proposer, removed="charlie1"),
        s("groupContextExtensionsProposal", proposer, extensions=GCE),
        s("externalPSKProposal", proposer, pskID=6),
        s("resumptionPSKProposal", proposer, epochID=1),
    ]
    if proposer == "bob":
        by_reference.append(s("updateProposal", "bob"))
    last = 9 + len(by_reference)  # the step of charlie4's key package
    return [
        _group("bob"),
        s("createKeyPackage", "charlie1"),
        s("createKeyPackage", "charlie2"),
        s("addProposal", "alice", keyPackage=1),
        s("addProposal", "alice", keyPackage=2),
        s("fullCommit", "alice", byReference=[3, 4], members=["bob"], joiners=["charlie1", "charlie2"]),
        s("installExternalPSK", clients=["alice", "bob"]),
        s("installExternalPSK", clients=["alice", "bob"]),
        s("createKeyPackage", "charlie3"),
        *by_reference,
        s("createKeyPackage", "charlie4"),
        s(
            "fullCommit",
            "alice",
            byReference=list(range(9, last)),
            byValue=[
                {"proposalType": "add", "keyPackage": last},
                {"proposalType": "remove", "removed": "charlie2"},
                {"proposalType": "externalPSK", "pskID": 7},
                {"proposalType": "resumptionPSK", "epochID": 2},
            ],
            members=["bob"],
        ),
    ]


def _adds(first: int, members: list[str], joiners: list[str], force_path: bool) -> Script:
    """Three key packages; alice and bob propose two, alice commits them and the third by value."""
    return [
        *(s("createKeyPackage", j) for j in joiners),
        s("addProposal", "alice", keyPackage=first),
        s("addProposal", "bob", keyPackage=first + 1),
        s(
            "fullCommit",
            "alice",
            byReference=[first + 3, first + 4],
            byValue=[{"proposalType": "add", "keyPackage": first + 2}],
            members=members,
            joiners=joiners,
            force_path=force_path,
        ),
    ]


def _psk_rounds(kind: str, ids: list[tuple[int, int, int]], first: int) -> Script:
    """Per round: alice and bob propose a PSK each by reference, alice commits them and one by value."""
    key = "pskID" if kind == "externalPSK" else "epochID"
    out: Script = []
    for round_, (a, b, value) in enumerate(ids):
        start = first + 3 * round_
        out += [
            s(f"{kind}Proposal", "alice", **{key: a}),
            s(f"{kind}Proposal", "bob", **{key: b}),
            s(
                "fullCommit",
                "alice",
                byReference=[start, start + 1],
                byValue=[{"proposalType": kind, key: value}],
                members=["bob"],
                force_path=round_ == 0 or kind == "resumptionPSK",
            ),
        ]
    return out


COMMIT: dict[str, Script] = {
    "empty": [_group("bob"), s("fullCommit", "alice", members=["bob"])],
    "add": [
        _group("bob"),
        *_adds(1, ["bob"], ["charlie1", "charlie2", "charlie3"], force_path=True),
        *_adds(7, ["bob", "charlie1", "charlie2"], ["charlie4", "charlie5", "charlie6"], force_path=False),
    ],
    "remove": [
        _group("bob"),
        *(s("createKeyPackage", f"charlie{n}") for n in (1, 2, 3)),
        *(s("addProposal", "alice", keyPackage=k) for k in (1, 2, 3)),
        s(
            "fullCommit",
            "alice",
            byReference=[4, 5, 6],
            members=["bob"],
            joiners=["charlie1", "charlie2", "charlie3"],
        ),
        s("removeProposal", "alice", removed="charlie1"),
        s("removeProposal", "bob", removed="charlie2"),
        s(
            "fullCommit",
            "alice",
            byReference=[8, 9],
            byValue=[{"proposalType": "remove", "removed": "charlie3"}],
            members=["bob"],
        ),
    ],
    "update": [
        _group("bob"),
        s("updateProposal", "bob"),
        s("fullCommit", "alice", byReference=[1], members=["bob"]),
    ],
    "group_context_extensions": [
        _group("bob"),
        s("groupContextExtensionsProposal", "alice", extensions=GCE),
        s("fullCommit", "alice", byReference=[1], members=["bob"]),
        s("groupContextExtensionsProposal", "bob", extensions=[]),
        s("fullCommit", "alice", byReference=[3], members=["bob"]),
        s(
            "fullCommit",
            "alice",
            byValue=[{"proposalType": "groupContextExtensions", "extensions": GCE[:1]}],
            members=["bob"],
        ),
    ],
    "external_psk": [
        _group("bob"),
        *(s("installExternalPSK", clients=["alice", "bob"]) for _ in range(3)),
        *_psk_rounds("externalPSK", [(1, 2, 3), (1, 2, 3)], first=4),
    ],
    "resumption_psk": [
        _group("bob"),
        s("fullCommit", "alice", members=["bob"]),
        s("fullCommit", "alice", members=["bob"]),
        *_psk_rounds("resumptionPSK", [(1, 2, 3), (2, 3, 4)], first=3),
    ],
    "all_together_alice_proposes": _all_together("alice"),
    "all_together_bob_proposes": _all_together("bob"),
}

EXTERNAL_JOIN: dict[str, Script] = {
    "normal": [_group(), s("externalJoin", "alice", joiner="bob")],
    "with_psk": [
        _group(),
        s("installExternalPSK", clients=["alice"]),
        s("externalJoin", "alice", joiner="bob", psks=[1]),
    ],
    "removing_prior": [
        _group(),
        s("externalJoin", "alice", joiner="bob"),
        s("externalJoin", "alice", joiner="bob", removePrior=True),
    ],
    "with_external_tree": [_group(), s("externalJoin", "alice", joiner="bob", externalTree=True)],
    "with_more_members": [
        _group("bob", "charlie", "diana"),
        s("externalJoin", "diana", joiner="ellen", members=["alice", "bob", "charlie"]),
    ],
}

SCENARIOS: dict[str, dict[str, Script]] = {
    "welcome_join": WELCOME_JOIN,
    "application": APPLICATION,
    "commit": COMMIT,
    "external_join": EXTERNAL_JOIN,
}
