// carbon-ledger label verifier: checks a carbon-label JSON document in the browser with
// WebCrypto (Ed25519, SHA-256), trusting nothing the server says except, when the user does
// not enter one, the operator public key from /verify/config.json (and the page says which).
//
// It mirrors ledger/labels/evidence.py, ledger/statements.py and ledger/figures.py (`verify_label`, `_open_evidence`): evidence digest,
// genesis and trusted operator key, C2SP signed checkpoint, one RFC 6962 multiproof of every
// evidence entry under the checkpoint root, operator signatures, supplier submission
// signatures and in-submission proofs under the signed records_root, the operator-signed
// footprint statement: the evidence holds exactly the record set it commits to
// (records_digest), the figures recomputed from those records equal the statement's, and the
// label shows the statement's figures.
//
// Layout: 1 bytes and crypto, 2 canonical JSON and exact decimals, 3 Merkle trees and notes,
// 4 walkLabel (the ONE place that knows the document format), 5 checks, 6 page.
"use strict";

// ---- 1. bytes and crypto ------------------------------------------------------------------
const enc = new TextEncoder();
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s) => {
  if (!/^([0-9a-f]{2})*$/.test(s)) throw new VerifyError(`not lowercase hex: ${s.slice(0, 20)}`);
  return Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
};
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

async function ed25519Verify(rawKey, signature, message) {
  const key = await crypto.subtle.importKey("raw", rawKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

class VerifyError extends Error {}

// ---- 2. canonical JSON (RFC 8785 for the values a label holds) and exact decimals -----------
function jcs(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new VerifyError("non-integer number in signed data");
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  const keys = Object.keys(value).sort(); // UTF-16 code unit order, as RFC 8785 requires
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(",")}}`;
}

// A rational n/d of BigInts; decimal strings parse exactly.
const Q = (n, d = 1n) => ({ n, d });
function dec(text) {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(text));
  if (!m) throw new VerifyError(`not a decimal string: ${text}`);
  const frac = m[3] || "";
  const n = BigInt(m[2] + frac) * (m[1] ? -1n : 1n);
  return Q(n, 10n ** BigInt(frac.length));
}
const add = (a, b) => Q(a.n * b.d + b.n * a.d, a.d * b.d);
const div = (a, b) => Q(a.n * b.d, a.d * b.n);
const cmp = (a, b) => { const x = a.n * b.d - b.n * a.d; return x < 0n ? -1 : x > 0n ? 1 : 0; };
// round half-even to `places` decimals (Python's Decimal.quantize with ROUND_HALF_EVEN)
function round(q, places) {
  let { n, d } = q;
  if (d < 0n) { n = -n; d = -d; }
  const scale = 10n ** BigInt(places);
  const num = n * scale;
  let whole = num / d; // truncates toward zero
  let rest = num - whole * d;
  const sign = num < 0n ? -1n : 1n;
  if (rest < 0n) rest = -rest;
  if (2n * rest > d || (2n * rest === d && whole % 2n !== 0n)) whole += sign;
  return Q(whole, scale);
}
// ledger.decimals.fmt: no exponent, no trailing zeros, "0" for zero
function fmt(q) {
  const r = round(q, 30);
  if (r.n === 0n) return "0";
  const neg = r.n < 0n;
  const digits = (neg ? -r.n : r.n).toString().padStart(31, "0");
  let text = `${digits.slice(0, -30).replace(/^0+(?=\d)/, "")}.${digits.slice(-30)}`;
  text = text.replace(/0+$/, "").replace(/\.$/, "");
  return (neg ? "-" : "") + text;
}
// Python's f"{Decimal:.Nf}" (half-even), for people
const fixed = (q, places) => { const s = fmt(round(q, places)); const [w, f = ""] = s.split("."); return `${w}.${f.padEnd(places, "0")}`; };
const fixed3 = (q) => fixed(q, 3);

// ---- 3. RFC 6962 trees and C2SP signed notes ----------------------------------------------
const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
const splitPoint = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
function decompose(start, end) { // complete subtrees of [start, end), largest first
  const out = [];
  let length = end - start;
  for (let level = Math.floor(Math.log2(Math.max(length, 1))); level >= 0; level--) {
    if ((length >> level) & 1) { out.push([level, start >> level]); start += 1 << level; }
  }
  return out;
}
async function fold(hashes) {
  let acc = hashes[hashes.length - 1];
  for (let i = hashes.length - 2; i >= 0; i--) acc = await nodeHash(hashes[i], acc);
  return acc;
}
// ledger.merkle.root_from_multiproof: every given leaf is used, nodes fill the rest
async function rootFromMultiproof(leaves, size, nodes) {
  const indices = [...leaves.keys()].sort((a, b) => a - b);
  if (indices.length && (indices[0] < 0 || indices[indices.length - 1] >= size))
    throw new VerifyError(`leaf index out of range for tree size ${size}`);
  const holds = (start, end) => indices.some((i) => i >= start && i < end);
  async function walk(start, end) {
    if (!holds(start, end)) {
      const hashes = decompose(start, end).map(([lv, ix]) => {
        const h = nodes.get(`${lv}:${ix}`);
        if (!h || h.length !== 32) throw new VerifyError(`the proof lacks node (level ${lv}, index ${ix})`);
        return h;
      });
      return fold(hashes);
    }
    if (end - start === 1) return leaves.get(start);
    const mid = start + splitPoint(end - start);
    return nodeHash(await walk(start, mid), await walk(mid, end));
  }
  return size ? walk(0, size) : sha256(new Uint8Array());
}
async function noteKeyHash(name, rawKey) {
  return (await sha256(concat(enc.encode(`${name}\n`), Uint8Array.of(1), rawKey))).slice(0, 4);
}
// ledger.note.open_checkpoint: a signature line by (name, key hash) that verifies
async function openCheckpoint(note, name, rawKey) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new VerifyError("the checkpoint is not a signed note");
  const text = note.slice(0, split + 1);
  const want = await noteKeyHash(name, rawKey);
  let found = false;
  for (const line of note.slice(split + 2).replace(/\n$/, "").split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new VerifyError("malformed checkpoint signature line");
    const raw = b64(m[2]);
    if (m[1] !== name || !equal(raw.slice(0, 4), want)) continue;
    if (!(await ed25519Verify(rawKey, raw.slice(4), enc.encode(text))))
      throw new VerifyError(`the checkpoint signature by ${name} does not verify`);
    found = true;
  }
  if (!found) throw new VerifyError(`the checkpoint has no signature by ${name}+${hex(want)}`);
  const [origin, size, root] = text.split("\n");
  if (!/^[1-9]\d*$|^0$/.test(size)) throw new VerifyError("malformed checkpoint size");
  return { origin, size: Number(size), root: b64(root) };
}

// ---- 4. the label document (carbon-label/v2): the one place that walks its layout -----------
const LABEL_FORMAT = "carbon-label/v2";
const STATEMENT_METHOD = "carbon-ledger SPEC §6 v2 (declared reference flow, allocation groups, window shares)";
const STAGES = ["production", "warehousing", "transport", "packaging"];
const OPERATOR_KINDS = ["genesis", "supplier", "key_rotate", "key_revoke", "factor", "footprint"];
function payloadSlice(bytes) { // the canonical payload bytes inside canonical entry bytes
  const text = new TextDecoder().decode(bytes);
  const start = text.indexOf('"payload":') + '"payload":'.length;
  const end = text.lastIndexOf(',"prev":"');
  return enc.encode(text.slice(start, end));
}
function walkLabel(doc) {
  if (!doc || doc.format !== LABEL_FORMAT)
    throw new VerifyError(`not a ${LABEL_FORMAT} document (format ${JSON.stringify(doc && doc.format)})`);
  const ev = doc.evidence || {};
  const entries = new Map();
  for (const [seq, text] of Object.entries(ev.entries || {})) {
    const bytes = enc.encode(text);
    const parsed = JSON.parse(text);
    if (parsed.seq !== Number(seq)) throw new VerifyError(`evidence entry ${seq} holds bytes of seq ${parsed.seq}`);
    entries.set(Number(seq), { seq: Number(seq), bytes, kind: parsed.kind, payload: parsed.payload });
  }
  const nodes = new Map(Object.entries(ev.nodes || {}).map(([k, v]) => [k, unhex(v)]));
  const subNodes = new Map();
  for (const [k, v] of Object.entries(ev.submission_nodes || {})) {
    const [sub, level, idx] = k.split(":");
    if (!subNodes.has(Number(sub))) subNodes.set(Number(sub), new Map());
    subNodes.get(Number(sub)).set(`${level}:${idx}`, unhex(v));
  }
  return {
    doc,
    evidence: ev,
    origin: ev.origin,
    checkpoint: ev.checkpoint,
    treeSize: ev.tree_size,
    entries,
    nodes,
    subNodes,
    productId: doc.product && doc.product.product_id,
    window: doc.window || {},
    claims: {
      product: doc.product, window: doc.window, footprint: doc.footprint,
      primary_data_share: doc.primary_data_share, record_count: doc.record_count,
      suppliers: doc.suppliers, factors: doc.factors, statement: doc.statement,
      as_of_tree_size: doc.as_of_tree_size,
    },
    digest: doc.evidence_sha256,
  };
}

// ---- 5. the checks --------------------------------------------------------------------------
async function verifyLabel(doc, trustedKey) {
  const done = []; // what was proven, in order, for the page
  const label = walkLabel(doc);
  if (hex(await sha256(enc.encode(jcs(label.evidence)))) !== label.digest)
    throw new VerifyError("evidence_sha256 does not match the evidence");
  done.push("the evidence digest matches the label");

  const genesis = label.entries.get(0);
  if (!genesis || genesis.kind !== "genesis") throw new VerifyError("the evidence lacks the genesis entry");
  const ledgerKey = b64(genesis.payload.operator_public_key);
  if (!equal(ledgerKey, trustedKey))
    throw new VerifyError("the ledger's operator key is not the operator key you trust");
  const cp = await openCheckpoint(label.checkpoint, label.origin, ledgerKey);
  if (cp.origin !== label.origin) throw new VerifyError("the checkpoint is for another log origin");
  if (cp.size !== label.treeSize) throw new VerifyError("evidence tree_size does not match its checkpoint");
  done.push(`the checkpoint of ${label.origin} at tree size ${cp.size} is signed by the trusted operator key`);

  const leaves = new Map();
  for (const [seq, e] of label.entries) {
    if (seq >= cp.size) throw new VerifyError(`evidence entry ${seq} is beyond the checkpoint (size ${cp.size})`);
    leaves.set(seq, await leafHash(e.bytes));
  }
  const root = await rootFromMultiproof(leaves, cp.size, label.nodes);
  if (!equal(root, cp.root))
    throw new VerifyError("the evidence entries and proof nodes do not reproduce the signed checkpoint root: an entry or a node was altered");
  done.push(`all ${label.entries.size} evidence entries are in the log under the signed root (one multiproof)`);

  const supplierKeys = new Map();
  const retired = new Map();
  const names = new Map();
  for (const [seq, e] of [...label.entries].sort((a, b) => a[0] - b[0])) {
    if (!OPERATOR_KINDS.includes(e.kind)) continue;
    const { signature, ...fields } = e.payload;
    const message = concat(enc.encode("carbon-ledger/operator/v1\n"), enc.encode(jcs(fields)));
    if (!(await ed25519Verify(ledgerKey, b64(signature || ""), message)))
      throw new VerifyError(`operator signature on entry ${seq} fails`);
    // ledger.keyring.Keyring.register: keys by key_id, and the seq each stopped being valid
    if (e.kind === "supplier" || e.kind === "key_rotate") {
      const raw = b64(e.payload.public_key || "");
      if (hex((await sha256(raw)).slice(0, 8)) !== e.payload.key_id || supplierKeys.has(e.payload.key_id))
        throw new VerifyError(`${e.kind} entry ${seq} has a bad or reused key_id`);
      supplierKeys.set(e.payload.key_id, [e.payload.supplier_id, raw]);
      for (const old of e.payload.retires || []) if (!retired.has(old)) retired.set(old, seq);
    } else if (e.kind === "key_revoke") {
      if (!supplierKeys.has(e.payload.key_id)) throw new VerifyError(`key_revoke names unknown key ${e.payload.key_id}`);
      if (!retired.has(e.payload.key_id)) retired.set(e.payload.key_id, seq);
    }
    if (e.kind === "supplier") names.set(e.payload.supplier_id, e.payload.name);
  }
  done.push("every operator-signed entry (genesis, suppliers, keys, factors, the footprint statement) carries a valid operator signature");

  const submissions = [...label.entries.values()].filter((e) => e.kind === "submission").sort((a, b) => a.seq - b.seq);
  const covered = new Map();
  for (const e of [...label.entries.values()].sort((a, b) => a.seq - b.seq)) {
    if (e.kind !== "record" && e.kind !== "product" && e.kind !== "output") continue;
    const sub = submissions.filter((s) => s.seq < e.seq).pop();
    if (!sub || e.seq > sub.seq + sub.payload.count) throw new VerifyError(`the evidence lacks the submission covering entry ${e.seq}`);
    if (e.payload.supplier_id !== sub.payload.supplier_id) throw new VerifyError(`entry ${e.seq} is not by its submission's supplier`);
    if (!covered.has(sub.seq)) covered.set(sub.seq, new Map());
    covered.get(sub.seq).set(e.seq - sub.seq - 1, await leafHash(payloadSlice(e.bytes)));
  }
  const signers = new Set();
  for (const [subSeq, subLeaves] of covered) {
    const sub = label.entries.get(subSeq).payload;
    const known = supplierKeys.get(sub.key_id);
    if (!known) throw new VerifyError(`submission ${subSeq} is signed with unknown key ${sub.key_id}`);
    if (known[0] !== sub.supplier_id) throw new VerifyError(`key ${sub.key_id} belongs to ${known[0]}, not the submitter of ${subSeq}`);
    if (retired.has(sub.key_id) && retired.get(sub.key_id) < subSeq)
      throw new VerifyError(`submission ${subSeq} is signed with key ${sub.key_id}, revoked at seq ${retired.get(sub.key_id)}`);
    const { signature, ...fields } = sub;
    const message = concat(enc.encode("carbon-ledger/submission/v1\n"), enc.encode(jcs(fields)));
    if (!(await ed25519Verify(known[1], b64(signature || ""), message)))
      throw new VerifyError(`the supplier signature on submission ${subSeq} does not verify`);
    const subRoot = await rootFromMultiproof(subLeaves, sub.count, label.subNodes.get(subSeq) || new Map());
    if (!equal(subRoot, unhex(sub.records_root)))
      throw new VerifyError(`entries covered by submission ${subSeq} do not reproduce the records_root its supplier signed`);
    signers.add(sub.supplier_id);
  }
  done.push(`every record was signed by its supplier (${[...signers].sort().join(", ")}) with a key valid at the time, and sits in the submission it signed`);

  const derived = await recompute(label);
  const diff = firstDifference(label.claims, derived.claims, "");
  if (diff) throw new VerifyError(`the label says ${diff[0]} is ${diff[1]}, but its evidence gives ${diff[2]}`);
  done.push(`the evidence holds exactly the ${derived.claims.record_count} records and the outputs the logged footprint statement commits to (records_digest)`);
  done.push("the figures recomputed from them equal the operator-signed statement, and the label shows those figures");
  return { done, label, cp, keyId: hex((await sha256(ledgerKey)).slice(0, 8)), names, statement: derived.statement };
}

// the first path where the label's claims and the recomputed figures differ
function firstDifference(claimed, computed, path) {
  if (computed !== null && typeof computed === "object") {
    const keys = Array.isArray(computed) && Array.isArray(claimed) && claimed.length !== computed.length
      ? [] : Object.keys(computed);
    for (const k of keys) {
      const d = firstDifference(claimed == null ? undefined : claimed[k], computed[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    if (jcs(claimed === undefined ? null : claimed) === jcs(computed)) return null;
    return [path, jcs(claimed === undefined ? null : claimed), jcs(computed)];
  }
  return jcs(claimed === undefined ? null : claimed) === jcs(computed) ? null : [path, jcs(claimed === undefined ? null : claimed), jcs(computed)];
}

// The label's figures from its records and outputs (ledger/figures.py, SPEC §6 v2): the
// reference flow N(W) from declared outputs, each record weighted by its window share phi,
// stage intensity = sum co2e*phi / N, coverage = sum over suppliers of the largest
// allocation group's units_covered*phi / N. Exact rationals, rounded half-even to 12 places
// once, at the end, as ledger.figures.rounded does.
const dayNumber = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86400000;
const ZERO = Q(0n);
const mul = (a, b) => Q(a.n * b.n, a.d * b.d);
function overlapShare(start, end, from, to) {
  const inside = Math.min(dayNumber(end), dayNumber(to)) - Math.max(dayNumber(start), dayNumber(from));
  return inside <= 0 ? ZERO : Q(BigInt(inside), BigInt(dayNumber(end) - dayNumber(start)));
}
const referenceFlow = (outputs, from, to) =>
  outputs.reduce((acc, o) => add(acc, mul(o.units, overlapShare(o.start, o.end, from, to))), ZERO);
function phi(r, outputs, window) {
  if (r.stage === "production") {
    const produced = referenceFlow(outputs, r.period_start, r.period_end);
    if (produced.n !== 0n) {
      const from = r.period_start > window.from ? r.period_start : window.from;
      const to = r.period_end < window.to ? r.period_end : window.to;
      if (to <= from) return ZERO;
      return div(referenceFlow(outputs, from, to), produced);
    }
  }
  return overlapShare(r.period_start, r.period_end, window.from, window.to);
}

// ledger.statements.basis_from_entries + figures_of + check_statement, then the label's
// claims as evidence.label_document derives them from the statement.
async function recompute(label) {
  const entries = [...label.entries.values()].sort((a, b) => a.seq - b.seq);
  const found = entries.filter((e) => e.kind === "footprint");
  if (found.length !== 1) throw new VerifyError("the label evidence must hold exactly one footprint statement (the logged figures)");
  const statement = found[0];
  const claim = statement.payload;
  if (claim.product_id !== label.productId)
    throw new VerifyError(`the footprint statement is for ${JSON.stringify(claim.product_id)}, not ${label.productId}`);
  const window = { from: label.window.from, to: label.window.to };
  if (!claim.window || claim.window.from !== window.from || claim.window.to !== window.to)
    throw new VerifyError(`the footprint statement is for another window than the label's ${window.from}..${window.to}`);
  const products = entries.filter((e) => e.kind === "product");
  if (products.length !== 1 || products[0].payload.product_id !== label.productId)
    throw new VerifyError(`the evidence must hold exactly the registration of ${label.productId}`);
  const product = products[0].payload;
  const factors = new Map();
  for (const e of entries) if (e.kind === "factor") factors.set(`${e.payload.factor_id}@${e.payload.version}`, e.payload);
  const outputs = [], records = [], seqs = [], used = new Map(), gwp = new Set();
  for (const { seq, kind, payload: r } of entries) {
    if (kind !== "record" && kind !== "output") continue;
    if (r.product_id !== label.productId) throw new VerifyError(`${kind} at seq ${seq} is for another product`);
    if (seq >= claim.as_of_size) throw new VerifyError(`${kind} at seq ${seq} comes after the statement's size ${claim.as_of_size}`);
    seqs.push(seq);
    if (kind === "output") { outputs.push({ units: dec(r.units), start: r.period_start, end: r.period_end }); continue; }
    if (!(r.period_start < window.to && r.period_end > window.from))
      throw new VerifyError(`record at seq ${seq} is outside the label window`);
    if (r.factor_id !== undefined) {
      const f = factors.get(`${r.factor_id}@${r.factor_version}`);
      if (!f) throw new VerifyError(`record at seq ${seq} pins a factor the evidence lacks`);
      used.set(`${f.factor_id}@${f.version}`, f);
      gwp.add(f.gwp);
    }
    records.push(r);
  }
  const digest = hex(await sha256(enc.encode(jcs(seqs.sort((a, b) => a - b)))));
  if (digest !== claim.records_digest)
    throw new VerifyError("the evidence does not hold the record set the footprint statement commits to (records_digest differs)");
  const figures = figuresOf(records, outputs, window, dec(product.mass_kg), [...gwp].sort());
  const stated = claim.figures || {};
  const diff = firstDifference(stated, figures, "statement.figures");
  if (diff || Object.keys(stated).length !== Object.keys(figures).length || claim.method !== STATEMENT_METHOD)
    throw new VerifyError(diff ? `the footprint statement states ${diff[0]} ${diff[1]}, but its records give ${diff[2]}` : "the footprint statement has unknown fields");
  const claims = {
    product: {
      product_id: product.product_id, name: product.name, supplier_id: product.supplier_id,
      declared_unit: product.declared_unit, mass_kg: fmt(dec(product.mass_kg)),
      category: product.category === undefined ? null : product.category,
    },
    window,
    footprint: {
      kgco2e_per_unit: fmt(dec(figures.kgco2e_per_unit)),
      kgco2e_per_kg: fmt(dec(figures.kgco2e_per_kg)),
      by_stage: figures.by_stage,
      missing_stages: STAGES.filter((s) => figures.by_stage[s] === null),
      coverage: figures.coverage,
      reference_units: figures.reference_units,
      reference_flow: "declared",
      display_kgco2e_per_unit: fixed3(dec(figures.kgco2e_per_unit)),
    },
    primary_data_share: figures.primary_data_share,
    record_count: figures.record_count,
    suppliers: figures.suppliers,
    factors: [...used.values()].sort((a, b) => (a.factor_id < b.factor_id ? -1 : a.factor_id > b.factor_id ? 1 : a.version - b.version)).map((f) => ({
      factor_id: f.factor_id, version: f.version, kgco2e_per_unit: fmt(dec(f.kgco2e_per_unit)), unit: f.unit,
      gwp: f.gwp, source: f.source, year: f.year, region: f.region,
    })),
    statement: { seq: statement.seq, as_of_size: claim.as_of_size, records_digest: claim.records_digest },
    as_of_tree_size: label.treeSize,
  };
  return { claims, statement: { seq: statement.seq, as_of_size: claim.as_of_size } };
}

// ledger.statements.figures_of over ledger.figures (SPEC §6 v2), one product, one window
function figuresOf(records, outputs, window, mass, gwpSets) {
  const sums = new Map(); // "supplier|stage" -> {co2e, groups: Map(group -> units)}
  let total = ZERO, primary = ZERO;
  for (const r of records) {
    const w = phi(r, outputs, window);
    const key = `${r.supplier_id}|${r.stage}`;
    if (!sums.has(key)) sums.set(key, { stage: r.stage, co2e: ZERO, groups: new Map() });
    const s = sums.get(key);
    const weighted = mul(dec(r.co2e_kg), w);
    s.co2e = add(s.co2e, weighted);
    total = add(total, weighted);
    if (r.data_quality === "primary") primary = add(primary, weighted);
    const group = r.allocation_group || r.activity;
    s.groups.set(group, add(s.groups.get(group) || ZERO, mul(dec(r.units_covered), w)));
  }
  const units = referenceFlow(outputs, window.from, window.to);
  if (units.n === 0n) throw new VerifyError("the evidence declares no output in the window (no reference flow)");
  const stageCo2e = new Map(), stageHandled = new Map();
  for (const s of sums.values()) {
    const handled = [...s.groups.values()].reduce((a, b) => (cmp(a, b) >= 0 ? a : b));
    stageCo2e.set(s.stage, add(stageCo2e.get(s.stage) || ZERO, s.co2e));
    stageHandled.set(s.stage, add(stageHandled.get(s.stage) || ZERO, handled));
  }
  const r12 = (q) => (q === null ? null : fmt(round(q, 12)));
  let footprint = ZERO;
  const byStage = {}, coverage = {};
  for (const s of STAGES) {
    const v = stageCo2e.has(s) ? div(stageCo2e.get(s), units) : null;
    if (v) footprint = add(footprint, v);
    byStage[s] = r12(v);
    coverage[s] = stageHandled.has(s) ? r12(div(stageHandled.get(s), units)) : null;
  }
  return {
    kgco2e_per_unit: r12(footprint),
    kgco2e_per_kg: r12(div(footprint, mass)),
    by_stage: byStage,
    coverage,
    reference_units: r12(units),
    primary_data_share: total.n === 0n ? "0" : r12(div(mul(primary, Q(100n)), total)),
    record_count: records.length,
    gwp_sets: gwpSets,
    suppliers: [...new Set(records.map((r) => r.supplier_id))].sort(),
  };
}

// ---- 6. the page ----------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid);
  return node;
};
let trusted = { key: null, from: "none" };

function parseKey(text) {
  const t = text.trim();
  const parts = t.split("+");
  if (parts.length === 3 && /^[0-9a-f]{8}$/.test(parts[1])) { // name+hash+base64(0x01 || key)
    const raw = b64(parts[2]);
    if (raw.length === 33 && raw[0] === 1) return raw.slice(1);
  }
  const raw = b64(t);
  if (raw.length !== 32) throw new VerifyError("an Ed25519 public key is 32 bytes of base64, or a note verifier key name+hash+base64");
  return raw;
}

function showKeySource() {
  $("key-source").textContent = trusted.from === "config"
    ? "Trusted operator key: from this server's configuration (/verify/config.json). To trust no server, paste the key you got from the operator."
    : trusted.from === "user" ? "Trusted operator key: entered by you."
    : trusted.from === "link" ? "Trusted operator key: from the link you opened (?key=). Trust it only if the operator gave you that link; a forger can put any key in a link."
    : "No trusted operator key yet: paste the operator's public key.";
}

async function run(doc, sourceText) {
  const out = $("result");
  out.replaceChildren();
  out.className = "result";
  $("source").textContent = sourceText;
  try {
    if (!trusted.key) throw new VerifyError("no trusted operator key: paste the operator's public key first");
    const ok = await verifyLabel(doc, trusted.key);
    const c = ok.label.claims;
    out.classList.add("ok");
    const bars = el("div", { class: "stages" });
    for (const s of STAGES) {
      const v = c.footprint.by_stage[s];
      const cov = c.footprint.coverage && c.footprint.coverage[s];
      const gap = cov && cmp(dec(cov), Q(1n)) !== 0 ? `covers ${fixed(mul(dec(cov), Q(100n)), 1)} % of units` : "";
      bars.append(el("div", { class: "stage" }, el("span", {}, s), el("span", { class: "num" }, v === null ? "no records" : `${fixed3(dec(v))} kg`), el("span", { class: "gap" }, gap)));
    }
    out.append(
      el("p", { class: "verdict", id: "verdict" }, "\u2714 Verified in this browser"),
      el("h2", {}, c.product.name),
      el("p", { class: "big" }, `${c.footprint.display_kgco2e_per_unit} kg CO\u2082e per ${c.product.declared_unit}`),
      el("p", {}, `Period ${c.window.from} to ${c.window.to} (end exclusive); ${c.record_count} signed records; primary data ${fixed(dec(c.primary_data_share), 1)} %`),
      bars,
      el("h3", {}, "What was proven"),
      el("ul", {}, ...ok.done.map((d) => el("li", {}, d))),
      el("h3", {}, "By whom, as of when"),
      el("p", {}, `Log ${ok.label.origin}, operator key ${ok.keyId} (${{ config: "key from this server's configuration", link: "key from the link you opened", user: "key you entered" }[trusted.from]}); suppliers: ${c.suppliers.map((s) => ok.names.get(s) || s).join("; ")}`),
      el("p", {}, `Figures as of tree size ${ok.statement.as_of_size}, logged by the operator as statement ${ok.statement.seq}, under the signed checkpoint at tree size ${ok.cp.size}. Later entries (a retraction, a correction) are not covered by this label; a full audit (\`carbon-ledger verify\`) re-derives every logged statement.`),
      el("p", { class: "note" }, "Not re-checked here: each record's co2e against its factor and units (run `carbon-ledger label verify` for that)."),
    );
  } catch (err) {
    out.classList.add("bad");
    const msg = err instanceof VerifyError ? err.message : `the document could not be read: ${err.message}`;
    out.append(el("p", { class: "verdict", id: "verdict" }, "\u2718 NOT verified"), el("p", { class: "reason", id: "reason" }, msg), el("p", { class: "note" }, "Do not rely on this label: what it claims could not be confirmed from its own evidence."));
  }
  out.dataset.done = "1";
}

async function loadFromUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new VerifyError(`fetching ${url}: HTTP ${response.status}`);
  return response.json();
}

async function main() {
  const params = new URLSearchParams(location.search);
  try {
    if (params.get("key")) { trusted = { key: parseKey(params.get("key")), from: "link" }; $("key").value = params.get("key"); }
    else {
      const config = await (await fetch("verify/config.json")).json();
      trusted = { key: b64(config.operator_public_key), from: "config" };
      $("key").value = config.operator_verifier_key;
    }
  } catch (err) { trusted = { key: null, from: "none" }; }
  showKeySource();
  $("key").addEventListener("change", () => {
    try { trusted = { key: parseKey($("key").value), from: "user" }; } catch (err) { trusted = { key: null, from: "none" }; }
    showKeySource();
  });
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (file) {
      try { await run(JSON.parse(await file.text()), `file ${file.name}`); }
      catch (err) { await run(null, `file ${file.name}`); }
    }
  });
  const labelUrl = params.get("label");
  if (labelUrl) {
    try { await run(await loadFromUrl(labelUrl), `label from ${labelUrl}`); }
    catch (err) { await run({ format: `unreadable (${err.message})` }, `label from ${labelUrl}`); }
  }
}
if (typeof document !== "undefined") main();
