// A local x402 v2 facilitator for Tollgate's end-to-end tests.
//
//   PORT=0 node facilitator.mjs
//   -> prints exactly one line: "facilitator listening on http://127.0.0.1:NNNN"
//
// HTTP API (x402 v2 spec, section 7 "Facilitator Interface"):
//   POST /verify    {x402Version, paymentPayload, paymentRequirements}
//                   -> 200 {isValid, invalidReason?, invalidMessage?, payer}
//   POST /settle    same body
//                   -> 200 {success, errorReason?, errorMessage?, transaction, network, payer, amount?}
//   GET  /supported -> {kinds:[{x402Version:2, scheme:"exact", network}], extensions:[], signers:{"eip155:*":[addr]}}
// Test helpers (not part of x402):
//   GET  /settlements -> {settlements:[...]}  what was settled, in order
//   GET  /requests    -> {requests:[...]}     every /verify and /settle call: path, body received, answer sent
//   POST /control     {verifyFailure?: reason|null, settleFailure?: reason|null} forces the next answers to fail
//   POST /reset       forgets settlements, requests, used nonces and forced failures
//
// Verification is real for scheme "exact" with the EIP-3009 payload on any eip155:<chainId> network:
// the TransferWithAuthorization EIP-712 signature is checked with viem's verifyTypedData
// (domain {name, version} from paymentRequirements.extra, chainId from the CAIP-2 network,
// verifyingContract = paymentRequirements.asset), and so are to == payTo, value == amount
// (v2 "exact" requires equality, like the reference facilitator), the validAfter/validBefore window,
// and that the nonce was never settled. Settlement has no chain: an in-memory ledger where an
// authorization (chainId, asset, from, nonce) settles once; the transaction hash is keccak256(signature).
// The failure reasons are the reference implementation's (@x402/evm exact facilitator) strings.

import http from "node:http";
import { getAddress, isAddress, isHex, keccak256, verifyTypedData } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const X402_VERSION = 2;
// Networks advertised by GET /supported (verification accepts any eip155:<chainId>).
const NETWORKS = (process.env.X402_NETWORKS || "eip155:84532")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
// The facilitator's (fake) gas-paying signer, advertised in /supported: anvil's second well-known key.
const SIGNER = privateKeyToAccount(
  process.env.FACILITATOR_PRIVATE_KEY ||
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
).address;

const authorizationTypes = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};

// Reason strings of the reference implementation (@x402/evm, src/exact/facilitator/errors.ts).
const R = {
  invalidScheme: "invalid_exact_evm_scheme",
  networkMismatch: "invalid_exact_evm_network_mismatch",
  missingDomain: "invalid_exact_evm_missing_eip712_domain",
  recipientMismatch: "invalid_exact_evm_recipient_mismatch",
  invalidSignature: "invalid_exact_evm_signature",
  validBefore: "invalid_exact_evm_payload_authorization_valid_before",
  validAfter: "invalid_exact_evm_payload_authorization_valid_after",
  valueMismatch: "invalid_exact_evm_payload_authorization_value_mismatch",
  nonceUsed: "invalid_exact_evm_nonce_already_used",
  unsupportedPayload: "unsupported_payload_type",
  invalidVersion: "invalid_x402_version",
  invalidNetwork: "invalid_network",
  invalidPayload: "invalid_payload",
  invalidRequest: "invalid_request",
};

let settlements = [];
let requests = [];
let usedNonces = new Set();
let forced = { verifyFailure: null, settleFailure: null };

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isUintString = (v) => typeof v === "string" && /^\d+$/.test(v);

function chainIdOf(network) {
  const m = /^eip155:(\d+)$/.exec(typeof network === "string" ? network : "");
  if (!m) return null;
  const id = Number(m[1]);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

function nonceKey(chainId, asset, from, nonce) {
  return `${chainId}:${asset.toLowerCase()}:${from.toLowerCase()}:${nonce.toLowerCase()}`;
}

// Returns {isValid, invalidReason?, invalidMessage?, payer?, ctx?} where ctx carries what settle needs.
async function verifyExact(body) {
  if (!isObj(body)) return { isValid: false, invalidReason: R.invalidRequest, invalidMessage: "body must be a JSON object" };
  const { x402Version, paymentPayload, paymentRequirements: req } = body;
  if (!isObj(paymentPayload) || !isObj(req)) {
    return { isValid: false, invalidReason: R.invalidRequest, invalidMessage: "paymentPayload and paymentRequirements must be objects" };
  }
  const auth = isObj(paymentPayload.payload) ? paymentPayload.payload.authorization : undefined;
  const payer = isObj(auth) && typeof auth.from === "string" ? auth.from : undefined;
  const fail = (invalidReason, invalidMessage) => ({ isValid: false, invalidReason, invalidMessage, payer });

  if (x402Version !== X402_VERSION || paymentPayload.x402Version !== X402_VERSION) {
    return fail(R.invalidVersion, `x402Version must be ${X402_VERSION} (body ${x402Version}, paymentPayload ${paymentPayload.x402Version})`);
  }
  const accepted = paymentPayload.accepted;
  if (!isObj(accepted)) return fail(R.invalidPayload, "paymentPayload.accepted is missing");
  if (accepted.scheme !== "exact" || req.scheme !== "exact") return fail(R.invalidScheme, `scheme must be "exact"`);
  const chainId = chainIdOf(req.network);
  if (chainId === null) return fail(R.invalidNetwork, `network ${JSON.stringify(req.network)} is not eip155:<chainId>`);
  if (accepted.network !== req.network) return fail(R.networkMismatch, `accepted.network ${accepted.network} != ${req.network}`);
  if (!isObj(req.extra) || !req.extra.name || !req.extra.version) {
    return fail(R.missingDomain, "paymentRequirements.extra.name and .version (the token's EIP-712 domain) are required");
  }
  if (req.extra.assetTransferMethod !== undefined && req.extra.assetTransferMethod !== "eip3009") {
    return fail(R.unsupportedPayload, `assetTransferMethod ${req.extra.assetTransferMethod} is not supported here (eip3009 only)`);
  }
  if (!isAddress(req.asset ?? "", { strict: false })) return fail(R.invalidPayload, "paymentRequirements.asset must be an EVM address");
  if (!isAddress(req.payTo ?? "", { strict: false })) return fail(R.invalidPayload, "paymentRequirements.payTo must be an EVM address");
  if (!isUintString(req.amount)) return fail(R.invalidPayload, "paymentRequirements.amount must be a string of digits");

  const signature = paymentPayload.payload?.signature;
  if (!isObj(auth) || typeof signature !== "string" || !isHex(signature)) {
    return fail(R.unsupportedPayload, "payload must be {signature, authorization} (EIP-3009)");
  }
  for (const f of ["from", "to"]) {
    if (!isAddress(auth[f] ?? "", { strict: false })) return fail(R.invalidPayload, `authorization.${f} must be an address`);
  }
  for (const f of ["value", "validAfter", "validBefore"]) {
    if (!isUintString(auth[f])) return fail(R.invalidPayload, `authorization.${f} must be a string of digits`);
  }
  if (typeof auth.nonce !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(auth.nonce)) {
    return fail(R.invalidPayload, "authorization.nonce must be 32 bytes of hex");
  }

  let sigOk = false;
  try {
    sigOk = await verifyTypedData({
      address: getAddress(auth.from),
      domain: { name: req.extra.name, version: req.extra.version, chainId, verifyingContract: getAddress(req.asset) },
      types: authorizationTypes,
      primaryType: "TransferWithAuthorization",
      message: {
        from: getAddress(auth.from),
        to: getAddress(auth.to),
        value: BigInt(auth.value),
        validAfter: BigInt(auth.validAfter),
        validBefore: BigInt(auth.validBefore),
        nonce: auth.nonce,
      },
      signature,
    });
  } catch (e) {
    return fail(R.invalidSignature, `signature check failed: ${e?.shortMessage || e?.message || e}`);
  }
  if (!sigOk) return fail(R.invalidSignature, "signature does not recover to authorization.from");
  if (getAddress(auth.to) !== getAddress(req.payTo)) return fail(R.recipientMismatch, `authorization.to ${auth.to} != payTo ${req.payTo}`);
  const now = Math.floor(Date.now() / 1000);
  // Same margins as the reference facilitator: validBefore must leave at least 6 s.
  if (BigInt(auth.validBefore) < BigInt(now + 6)) return fail(R.validBefore, `validBefore ${auth.validBefore} < now+6 (${now + 6})`);
  if (BigInt(auth.validAfter) > BigInt(now)) return fail(R.validAfter, `validAfter ${auth.validAfter} > now (${now})`);
  if (BigInt(auth.value) !== BigInt(req.amount)) return fail(R.valueMismatch, `authorization.value ${auth.value} != amount ${req.amount}`);
  const key = nonceKey(chainId, req.asset, auth.from, auth.nonce);
  if (usedNonces.has(key)) return fail(R.nonceUsed, `nonce ${auth.nonce} was already settled`);

  return { isValid: true, payer: getAddress(auth.from), ctx: { key, chainId, signature, auth, req, paymentPayload } };
}

async function handleVerify(body) {
  const r = await verifyExact(body);
  if (r.isValid && forced.verifyFailure) {
    return { isValid: false, invalidReason: forced.verifyFailure, invalidMessage: "forced by POST /control", payer: r.payer };
  }
  const { ctx, ...answer } = r;
  return answer;
}

async function handleSettle(body) {
  const network = isObj(body?.paymentRequirements) && typeof body.paymentRequirements.network === "string"
    ? body.paymentRequirements.network
    : "";
  const r = await verifyExact(body);
  if (!r.isValid) {
    return { success: false, errorReason: r.invalidReason, errorMessage: r.invalidMessage, transaction: "", network, payer: r.payer };
  }
  if (forced.settleFailure) {
    return { success: false, errorReason: forced.settleFailure, errorMessage: "forced by POST /control", transaction: "", network, payer: r.payer };
  }
  const { key, signature, auth, req, paymentPayload } = r.ctx;
  // Nothing awaits between this check and the insert, so concurrent settles of one nonce cannot both pass.
  if (usedNonces.has(key)) {
    return { success: false, errorReason: R.nonceUsed, errorMessage: `nonce ${auth.nonce} was already settled`, transaction: "", network, payer: r.payer };
  }
  usedNonces.add(key);
  const transaction = keccak256(signature);
  settlements.push({
    transaction,
    network,
    payer: r.payer,
    payTo: getAddress(req.payTo),
    asset: getAddress(req.asset),
    amount: auth.value,
    nonce: auth.nonce,
    validAfter: auth.validAfter,
    validBefore: auth.validBefore,
    resource: paymentPayload.resource ?? null,
    settledAt: new Date().toISOString(),
  });
  return { success: true, transaction, network, payer: r.payer, amount: auth.value };
}

function supported() {
  return {
    kinds: NETWORKS.map((network) => ({ x402Version: X402_VERSION, scheme: "exact", network })),
    extensions: [],
    signers: { "eip155:*": [SIGNER] },
  };
}

function send(res, status, obj) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  return { text, json: JSON.parse(text) };
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, "http://127.0.0.1").pathname;
  try {
    if (req.method === "GET" && path === "/supported") return send(res, 200, supported());
    if (req.method === "GET" && path === "/settlements") return send(res, 200, { settlements });
    if (req.method === "GET" && path === "/requests") return send(res, 200, { requests });
    if (req.method === "POST" && path === "/reset") {
      settlements = [];
      requests = [];
      usedNonces = new Set();
      forced = { verifyFailure: null, settleFailure: null };
      return send(res, 200, { ok: true });
    }
    if (req.method === "POST" && path === "/control") {
      const { json } = await readJson(req);
      for (const k of ["verifyFailure", "settleFailure"]) if (k in json) forced[k] = json[k] || null;
      return send(res, 200, forced);
    }
    if (req.method === "POST" && (path === "/verify" || path === "/settle")) {
      let body;
      try {
        body = (await readJson(req)).json;
      } catch (e) {
        const answer = path === "/verify"
          ? { isValid: false, invalidReason: R.invalidRequest, invalidMessage: `body is not JSON: ${e.message}` }
          : { success: false, errorReason: R.invalidRequest, errorMessage: `body is not JSON: ${e.message}`, transaction: "", network: "" };
        requests.push({ path, contentType: req.headers["content-type"] ?? null, body: null, answer });
        return send(res, 400, answer);
      }
      const answer = path === "/verify" ? await handleVerify(body) : await handleSettle(body);
      requests.push({ path, contentType: req.headers["content-type"] ?? null, body, answer });
      return send(res, 200, answer);
    }
    send(res, 404, { error: `no route ${req.method} ${path}` });
  } catch (e) {
    send(res, 500, { error: String(e?.message || e) });
  }
});

server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  process.stdout.write(`facilitator listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
