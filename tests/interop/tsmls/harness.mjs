// A ts-mls 1.6.4 MLS peer behind a JSON-lines protocol, driven by tests/interop/tsmls_peer.py.
//
// Protocol: one JSON object per line on stdin, {"id": n, "op": "...", ...args}; one reply per line on
// stdout, {"id": n, "ok": true, ...result} or {"id": n, "ok": false, "error": "..."}. Every byte string is
// lowercase hex. Requests are handled strictly in order. One process hosts any number of clients; a
// client holds its signature key, its unused key packages and its groups (keyed by group id hex).
//
// MLS messages cross the boundary as encoded MLSMessage (KeyPackage, Welcome, GroupInfo, PublicMessage,
// PrivateMessage); ratchet trees as the bare encoded `Node ratchet_tree<V>`.
//
// Ops (see `ops` below for arguments): hello, new_client, new_key_package (with the private keys),
// create_group, add, remove, commit (empty commit with a path; commits covering cached proposals),
// propose_remove, join (own key package, or foreign keys for passive-client checks), protect, process,
// group_info (with external_pub), external_join, state (epoch, epoch_authenticator, exporters, tree hash,
// tree, members). Handshake framing is per group (`public_handshakes`), overridable per commit (`public`).

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import {
  acceptAll,
  ciphersuites,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  mlsExporter,
  processMessage,
} from "ts-mls";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { createGroupInfo } from "ts-mls/createCommit.js";

const VERSION = "mls10";
const TS_MLS_VERSION = JSON.parse(readFileSync(new URL("./node_modules/ts-mls/package.json", import.meta.url))).version;
// PKCS#8 DER header of an Ed25519 private key (RFC 8410); the default provider stores keys in this form.
const ED25519_PKCS8_PREFIX = "302e020100300506032b657004220420";

const toHex = (b) => Buffer.from(b).toString("hex");
const fromHex = (h) => {
  if (typeof h !== "string" || h.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(h)) {
    throw new Error(`expected a hex string, got ${JSON.stringify(h)}`);
  }
  return new Uint8Array(Buffer.from(h, "hex"));
};

const suiteImpls = new Map(); // suite number -> CiphersuiteImpl
async function suiteImpl(id) {
  if (!suiteImpls.has(id)) {
    const name = Object.keys(ciphersuites).find((n) => ciphersuites[n] === id);
    if (name === undefined) throw new Error(`unknown cipher suite ${id}`);
    suiteImpls.set(id, await getCiphersuiteImpl(getCiphersuiteFromName(name)));
  }
  return suiteImpls.get(id);
}

const clients = new Map(); // client handle -> Client
let nextClient = 1;

function client(handle) {
  const c = clients.get(handle);
  if (c === undefined) throw new Error(`no such client ${handle}`);
  return c;
}

function group(c, gid) {
  const g = c.groups.get(gid);
  if (g === undefined) throw new Error(`client ${c.handle} has no group ${gid}`);
  return g;
}

function decodeMessage(hex, wantWireformat) {
  const decoded = decodeMlsMessage(fromHex(hex), 0);
  if (decoded === undefined) throw new Error("could not decode MLSMessage");
  const [msg, used] = decoded;
  if (used !== hex.length / 2) throw new Error(`MLSMessage has ${hex.length / 2 - used} trailing bytes`);
  if (wantWireformat !== undefined && !wantWireformat.includes(msg.wireformat)) {
    throw new Error(`expected ${wantWireformat.join(" or ")}, got ${msg.wireformat}`);
  }
  return msg;
}

function decodeTree(hex) {
  const decoded = decodeRatchetTree(fromHex(hex), 0);
  if (decoded === undefined) throw new Error("could not decode ratchet tree");
  return decoded[0];
}

// ts-mls 1.6.4 deviates from RFC 9420 section 12.4.3.2 in the external_pub GroupInfo extension: its
// extension_data is the bare HPKE public key, where the RFC has `struct { HPKEPublicKey external_pub; }`, i.e.
// an `opaque <V>` with a varint length prefix (fixed upstream in ts-mls PR #449, after 1.6.4). By default the
// harness speaks the RFC form at its boundary: it signs GroupInfos with the prefixed key itself, and for an
// external join hands ts-mls a suite whose HPKE importPublicKey strips the prefix. `external_pub_encoding:
// "tsmls"` selects ts-mls's native form instead.
function mlsVarint(n) {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

function stripVarintPrefix(b) {
  const prefix = b[0] >> 6;
  if (prefix > 2) return b;
  const width = 1 << prefix;
  if (b.length < width) return b;
  let n = b[0] & 0x3f;
  for (let i = 1; i < width; i++) n = n * 256 + b[i];
  return n === b.length - width ? b.subarray(width) : b;
}

async function groupInfoWithRfcExternalPub(state, withTree, cs) {
  const external = await cs.hpke.deriveKeyPair(state.keySchedule.externalSecret);
  const pub = await cs.hpke.exportPublicKey(external.publicKey);
  const extensions = [{ extensionType: "external_pub", extensionData: Buffer.concat([mlsVarint(pub.length), pub]) }];
  if (withTree) extensions.push({ extensionType: "ratchet_tree", extensionData: encodeRatchetTree(state.ratchetTree) });
  return createGroupInfo(state.groupContext, state.confirmationTag, state, extensions, cs);
}

// Every HPKE key of the join goes through importPublicKey (tree keys too, when the path is encrypted), so the
// prefix is only stripped from a key that does not import as it is: a bare 32-byte X25519 key whose first byte
// happens to read as a length prefix (0x1f, about one key in 256) must stay whole.
function suiteAcceptingRfcExternalPub(cs) {
  const hpke = Object.create(cs.hpke);
  hpke.importPublicKey = async (k) => {
    try {
      return await cs.hpke.importPublicKey(k);
    } catch (err) {
      const bare = stripVarintPrefix(k);
      if (bare === k) throw err;
      return cs.hpke.importPublicKey(bare);
    }
  };
  return { ...cs, hpke };
}

const wrap = (content) => toHex(encodeMlsMessage({ version: VERSION, ...content }));
const wrapWelcome = (welcome) => (welcome === undefined ? null : wrap({ wireformat: "mls_welcome", welcome }));

function newGroupRecord(c, state, publicHandshakes, treeInWelcome) {
  const gid = toHex(state.groupContext.groupId);
  if (c.groups.has(gid)) throw new Error(`client ${c.handle} is already in group ${gid}`);
  c.groups.set(gid, { state, publicHandshakes: !!publicHandshakes, treeInWelcome: treeInWelcome !== false });
  return gid;
}

// Pick (and consume) the client's key package that the Welcome is addressed to, by trying each in turn.
async function joinWithSomeKeyPackage(c, welcome, tree) {
  const errors = [];
  for (let i = 0; i < c.keyPackages.length; i++) {
    const kp = c.keyPackages[i];
    try {
      const state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, c.cs, tree);
      c.keyPackages.splice(i, 1);
      return state;
    } catch (e) {
      errors.push(`${e?.name}: ${e?.message}`);
    }
  }
  throw new Error(`no key package of client ${c.handle} could join: ${errors.join("; ") || "none left"}`);
}

async function commitOn(c, g, args, extraProposals) {
  const res = await createCommit(
    { state: g.state, cipherSuite: c.cs },
    {
      extraProposals,
      wireAsPublicMessage: args.public ?? g.publicHandshakes,
      ratchetTreeExtension: args.tree_in_welcome ?? g.treeInWelcome,
    },
  );
  g.state = res.newState;
  return { commit: toHex(encodeMlsMessage(res.commit)), welcome: wrapWelcome(res.welcome), epoch: Number(g.state.groupContext.epoch) };
}

function members(state) {
  const out = [];
  state.ratchetTree.forEach((node, i) => {
    if (i % 2 === 0 && node !== undefined && node.nodeType === "leaf") {
      const cred = node.leaf.credential;
      out.push({
        leaf: i / 2,
        identity: cred.credentialType === "basic" ? toHex(cred.identity) : null,
        signature_key: toHex(node.leaf.signaturePublicKey),
        encryption_key: toHex(node.leaf.hpkePublicKey),
      });
    }
  });
  return out;
}

const ops = {
  async hello() {
    return { node: process.versions.node, ts_mls: TS_MLS_VERSION };
  },

  async new_client({ identity, suite }) {
    const cs = await suiteImpl(suite ?? 3);
    const handle = `c${nextClient++}`;
    const signatureKeyPair = await cs.signature.keygen();
    clients.set(handle, {
      handle,
      cs,
      suite: suite ?? 3,
      credential: { credentialType: "basic", identity: fromHex(identity) },
      signatureKeyPair,
      keyPackages: [],
      groups: new Map(),
    });
    return { client: handle, signature_key: toHex(signatureKeyPair.publicKey) };
  },

  async new_key_package({ client: h }) {
    const c = client(h);
    const kp = await generateKeyPackageWithKey(c.credential, defaultCapabilities(), defaultLifetime, [], c.signatureKeyPair, c.cs);
    c.keyPackages.push(kp);
    const sig = kp.privatePackage.signaturePrivateKey;
    return {
      key_package: wrap({ wireformat: "mls_key_package", keyPackage: kp.publicPackage }),
      // Private keys for passive-client checks: HPKE keys are raw; the Ed25519 key is PKCS#8, whose last
      // 32 bytes are the RFC 8032 seed.
      init_priv: toHex(kp.privatePackage.initPrivateKey),
      encryption_priv: toHex(kp.privatePackage.hpkePrivateKey),
      signature_priv: toHex(sig.length === 48 ? sig.subarray(16) : sig),
    };
  },

  async create_group({ client: h, group_id, public_handshakes, tree_in_welcome }) {
    const c = client(h);
    const kp = await generateKeyPackageWithKey(c.credential, defaultCapabilities(), defaultLifetime, [], c.signatureKeyPair, c.cs);
    const state = await createGroup(fromHex(group_id), kp.publicPackage, kp.privatePackage, [], c.cs);
    return { group: newGroupRecord(c, state, public_handshakes, tree_in_welcome) };
  },

  async add({ client: h, group: gid, key_packages, ...args }) {
    const c = client(h);
    const g = group(c, gid);
    const proposals = key_packages.map((hex) => ({
      proposalType: "add",
      add: { keyPackage: decodeMessage(hex, ["mls_key_package"]).keyPackage },
    }));
    return commitOn(c, g, args, proposals);
  },

  async remove({ client: h, group: gid, leaves, ...args }) {
    const c = client(h);
    const g = group(c, gid);
    return commitOn(c, g, args, leaves.map((removed) => ({ proposalType: "remove", remove: { removed } })));
  },

  // A commit with no proposals: always carries an UpdatePath, so it rekeys the committer's path.
  async commit({ client: h, group: gid, ...args }) {
    const c = client(h);
    return commitOn(c, group(c, gid), args, []);
  },

  // A standalone Remove proposal (committed later by reference).
  async propose_remove({ client: h, group: gid, leaf, public: pub }) {
    const c = client(h);
    const g = group(c, gid);
    const res = await createProposal(g.state, pub ?? g.publicHandshakes, { proposalType: "remove", remove: { removed: leaf } }, c.cs);
    g.state = res.newState;
    return { message: toHex(encodeMlsMessage(res.message)) };
  },

  // Join from a Welcome. With `key_package` + private keys (raw init/encryption keys, raw Ed25519 seed) the
  // client joins with foreign keys (passive-client mode); otherwise with one of its own key packages.
  async join({ client: h, welcome, ratchet_tree, key_package, init_priv, encryption_priv, signature_priv, public_handshakes }) {
    const c = client(h);
    const w = decodeMessage(welcome, ["mls_welcome"]).welcome;
    const tree = ratchet_tree ? decodeTree(ratchet_tree) : undefined;
    let state;
    if (key_package !== undefined) {
      const kp = decodeMessage(key_package, ["mls_key_package"]).keyPackage;
      const privatePackage = {
        initPrivateKey: fromHex(init_priv),
        hpkePrivateKey: fromHex(encryption_priv),
        signaturePrivateKey: fromHex(ED25519_PKCS8_PREFIX + signature_priv),
      };
      state = await joinGroup(w, kp, privatePackage, emptyPskIndex, c.cs, tree);
    } else {
      state = await joinWithSomeKeyPackage(c, w, tree);
    }
    return { group: newGroupRecord(c, state, public_handshakes), epoch: Number(state.groupContext.epoch) };
  },

  async protect({ client: h, group: gid, data }) {
    const c = client(h);
    const g = group(c, gid);
    const res = await createApplicationMessage(g.state, fromHex(data), c.cs);
    g.state = res.newState;
    return { message: wrap({ wireformat: "mls_private_message", privateMessage: res.privateMessage }) };
  },

  async process({ client: h, group: gid, message }) {
    const c = client(h);
    const g = group(c, gid);
    const msg = decodeMessage(message, ["mls_private_message", "mls_public_message"]);
    const before = g.state;
    const res = await processMessage(msg, g.state, emptyPskIndex, acceptAll, c.cs);
    g.state = res.newState;
    const epoch = Number(g.state.groupContext.epoch);
    const active = g.state.groupActiveState.kind === "active";
    if (res.kind === "applicationMessage") return { kind: "application", data: toHex(res.message), epoch, active };
    // A commit moves the epoch on, except the one removing us: then ts-mls only marks the group inactive.
    const committed = g.state.groupContext.epoch !== before.groupContext.epoch || !active;
    const kind = committed ? "commit" : "proposal";
    return { kind, epoch, active };
  },

  // A GroupInfo with external_pub (and the ratchet tree unless with_tree is false).
  async group_info({ client: h, group: gid, with_tree, external_pub_encoding }) {
    const c = client(h);
    const g = group(c, gid);
    let groupInfo;
    if (external_pub_encoding === "tsmls") {
      const make = with_tree === false ? createGroupInfoWithExternalPub : createGroupInfoWithExternalPubAndRatchetTree;
      groupInfo = await make(g.state, [], c.cs);
    } else {
      groupInfo = await groupInfoWithRfcExternalPub(g.state, with_tree !== false, c.cs);
    }
    return { group_info: wrap({ wireformat: "mls_group_info", groupInfo }) };
  },

  async external_join({ client: h, group_info, ratchet_tree, public_handshakes, external_pub_encoding }) {
    const c = client(h);
    const gi = decodeMessage(group_info, ["mls_group_info"]).groupInfo;
    const tree = ratchet_tree ? decodeTree(ratchet_tree) : undefined;
    const kp = await generateKeyPackageWithKey(c.credential, defaultCapabilities(), defaultLifetime, [], c.signatureKeyPair, c.cs);
    const cs = external_pub_encoding === "tsmls" ? c.cs : suiteAcceptingRfcExternalPub(c.cs);
    const res = await joinGroupExternal(gi, kp.publicPackage, kp.privatePackage, false, cs, tree);
    const gid = newGroupRecord(c, res.newState, public_handshakes);
    return {
      group: gid,
      commit: wrap({ wireformat: "mls_public_message", publicMessage: res.publicMessage }),
      epoch: Number(res.newState.groupContext.epoch),
    };
  },

  async state({ client: h, group: gid, exporters }) {
    const c = client(h);
    const s = group(c, gid).state;
    const exported = [];
    for (const { label, context, length } of exporters ?? []) {
      exported.push(toHex(await mlsExporter(s.keySchedule.exporterSecret, label, fromHex(context ?? ""), length, c.cs)));
    }
    return {
      group_id: toHex(s.groupContext.groupId),
      epoch: Number(s.groupContext.epoch),
      epoch_authenticator: toHex(s.keySchedule.epochAuthenticator),
      tree_hash: toHex(s.groupContext.treeHash),
      computed_tree_hash: toHex(await treeHashRoot(s.ratchetTree, c.cs.hash)),
      confirmed_transcript_hash: toHex(s.groupContext.confirmedTranscriptHash),
      ratchet_tree: toHex(encodeRatchetTree(s.ratchetTree)),
      own_leaf: s.privatePath.leafIndex,
      members: members(s),
      active: s.groupActiveState.kind === "active",
      exporters: exported,
    };
  },
};

async function handle(line) {
  let id = null;
  try {
    const req = JSON.parse(line);
    id = req.id ?? null;
    const { op, id: _id, ...args } = req;
    const fn = ops[op];
    if (fn === undefined) throw new Error(`unknown op ${JSON.stringify(op)}`);
    return { id, ok: true, ...(await fn(args)) };
  } catch (e) {
    return { id, ok: false, error: `${e?.name ?? "Error"}: ${e?.message ?? String(e)}` };
  }
}

let queue = Promise.resolve();
createInterface({ input: process.stdin, crlfDelay: Infinity }).on("line", (line) => {
  if (line.trim() === "") return;
  queue = queue.then(async () => {
    process.stdout.write(JSON.stringify(await handle(line)) + "\n");
  });
});
