// A tiny x402 v2 resource server, to prove pay.mjs + facilitator.mjs work end to end and to show
// what a resource server (Tollgate) must send and accept. Not used by Tollgate's own tests.
//
//   FACILITATOR_URL=http://127.0.0.1:NNNN PORT=0 node mock-server.mjs
//   -> prints exactly one line: "mock-server listening on http://127.0.0.1:NNNN"
//
// Routes (GET):
//   /paid         one accepts entry: exact, eip155:84532, Base Sepolia USDC, amount 10000 ($0.01)
//   /paid-two     two entries: a solana one first (the EVM-only client skips it), then the EVM one
//   /custom-asset a non-default token (the official client refuses it unless spend controls are off)
//   /no-header    a 402 with only a problem+json body (no PAYMENT-REQUIRED) -> client refuses
//   /keyed        like /paid, but first needs the API key (Authorization: Bearer KEY or X-API-Key: KEY,
//                 KEY = $MOCK_API_KEY, default "test-key"); without it: 401 + WWW-Authenticate: Bearer
//   /free         200, no payment
// A paid request: decode PAYMENT-SIGNATURE, match `accepted` against our accepts (core fields equal,
// our extra a subset of theirs), POST the facilitator's /verify then /settle with
// {x402Version, paymentPayload, paymentRequirements: <our matching entry>}, answer 200 with
// PAYMENT-RESPONSE (base64 JSON of the settle answer). Failures answer 402 with a fresh
// PAYMENT-REQUIRED whose `error` says why (settle failure: PAYMENT-RESPONSE with success:false).
//
// The HTTP "Payment" authentication scheme (draft-ryan-httpauth-payment) carrying x402, routes (any method):
//   /mpp/paid     402 + one `WWW-Authenticate: Payment ... method="x402", intent="charge"` line
//   /mpp/keyed    needs the API key first (401 + Bearer otherwise); its 402 has two WWW-Authenticate
//                 lines: `Bearer realm="tollgate-mock"` and the Payment challenge
//   /mpp/multi    one comma-joined WWW-Authenticate line: Bearer, a Payment method="tempo" challenge
//                 (this server never accepts it), then the x402 Payment challenge
// Challenge: mppx Challenge.from({realm, method:"x402", intent:"charge", request, description, expires,
// meta: {nonce: <16 random bytes, base64url>}, secretKey}) so
// `id` = base64url(HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque)) and
// opaque = base64url(JCS {"nonce": ...}) makes each id unique;
// request = {amount, currency: asset, recipient: payTo, description,
//            methodDetails: {x402Version: 2, resource, accepted: <the x402 accepts entry>}}.
// Credential: `Payment-Authorization: Payment <b64url>` or `Authorization: Payment <b64url>` (both at
// once: 400). Checks, in order: decodes (else 402 malformed-credential), Challenge.verify + realm, method,
// intent (else invalid-challenge), not expired (invalid-challenge), issued for this URL and offer
// (invalid-challenge), id not used before (invalid-challenge; ids are single-use and reserved before the
// facilitator is called), payload.accepted matches the offer (verification-failed), then facilitator
// /verify and /settle with {x402Version: 2, paymentPayload: credential.payload, paymentRequirements:
// methodDetails.accepted} (verification-failed with the facilitator's reason). A failed verify or
// settle frees the id again. Success: 200, Cache-Control: private, `Payment-Receipt: b64url-nopad JSON
// {status:"success", method:"x402", timestamp, reference: <settle transaction>}`. Every 402 carries a
// fresh challenge, Cache-Control: no-store and an application/problem+json body
// {type: https://paymentauth.org/problems/<kind>, title, status, detail, challengeId}.
// Env: MPP_SECRET (HMAC key), MPP_REALM (default "tollgate-mock"), MPP_TTL_SECONDS (default 300).

import http from "node:http";
import { randomBytes } from "node:crypto";
import { Challenge, Credential, Receipt } from "mppx";

const FACILITATOR_URL = (process.env.FACILITATOR_URL || "").replace(/\/+$/, "");
if (!FACILITATOR_URL) {
  process.stderr.write("FACILITATOR_URL is required\n");
  process.exit(2);
}
const PAY_TO = process.env.PAY_TO || "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"; // anvil's third address
const API_KEY = process.env.MOCK_API_KEY || "test-key";
const MPP_SECRET = process.env.MPP_SECRET || "tollgate-mock-secret-0123456789abcdef";
const MPP_REALM = process.env.MPP_REALM || "tollgate-mock";
const MPP_TTL_SECONDS = Number(process.env.MPP_TTL_SECONDS || 300);

const USDC_BASE_SEPOLIA = {
  scheme: "exact",
  network: "eip155:84532",
  amount: "10000",
  asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
  payTo: PAY_TO,
  maxTimeoutSeconds: 60,
  extra: { name: "USDC", version: "2" },
};
const ROUTES = {
  "/paid": [USDC_BASE_SEPOLIA],
  "/paid-two": [
    {
      scheme: "exact",
      network: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
      amount: "10000",
      asset: "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
      payTo: "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5",
      maxTimeoutSeconds: 60,
      extra: { feePayer: "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5" },
    },
    USDC_BASE_SEPOLIA,
  ],
  "/custom-asset": [
    {
      ...USDC_BASE_SEPOLIA,
      asset: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      amount: "250",
      extra: { name: "Tollgate Test Token", version: "1" },
    },
  ],
  "/keyed": [USDC_BASE_SEPOLIA],
};
const KEYED = new Set(["/keyed", "/mpp/keyed"]);
const MPP_ROUTES = {
  "/mpp/paid": { accepted: USDC_BASE_SEPOLIA, bearer: false, tempo: false, joined: false },
  "/mpp/keyed": { accepted: USDC_BASE_SEPOLIA, bearer: true, tempo: false, joined: false },
  "/mpp/multi": { accepted: USDC_BASE_SEPOLIA, bearer: true, tempo: true, joined: true },
};

const b64 = (obj) => Buffer.from(JSON.stringify(obj), "utf8").toString("base64"); // standard alphabet, padded
const unb64 = (s) => JSON.parse(Buffer.from(s, "base64").toString("utf8"));

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
}
function isSubset(expected, actual) {
  if (expected === undefined) return true;
  if (typeof expected !== "object" || expected === null) return deepEqual(expected, actual);
  if (typeof actual !== "object" || actual === null) return false;
  return Object.entries(expected).every(([k, v]) => isSubset(v, actual[k]));
}
function matches(ours, accepted) {
  const { extra: e1, ...core1 } = ours;
  const { extra: e2, ...core2 } = accepted ?? {};
  return deepEqual(core1, core2) && isSubset(e1, e2);
}

function paymentRequired(url, accepts, error) {
  return {
    x402Version: 2,
    error,
    resource: { url, description: "Tollgate mock resource", mimeType: "application/json" },
    accepts,
  };
}

function problem(res, status, headers, title, detail, extra = {}) {
  const text = JSON.stringify({ type: "https://tollgate.invalid/problems/payment-required", title, status, detail, ...extra });
  res.writeHead(status, { "Content-Type": "application/problem+json", "Cache-Control": "no-store", ...headers });
  res.end(text);
}

function challenge(res, url, accepts, error) {
  problem(res, 402, { "PAYMENT-REQUIRED": b64(paymentRequired(url, accepts, error)) }, "Payment Required", error);
}

function apiKeyOk(req) {
  const auth = req.headers.authorization || "";
  const m = auth.match(/^Bearer\s+(\S+)$/i);
  return (m && m[1] === API_KEY) || req.headers["x-api-key"] === API_KEY;
}
function unauthorized(res) {
  res.writeHead(401, {
    "Content-Type": "application/problem+json",
    "Cache-Control": "no-store",
    "WWW-Authenticate": `Bearer realm="${MPP_REALM}"`,
  });
  res.end(JSON.stringify({ type: "https://tollgate.invalid/problems/unauthorized", title: "Unauthorized", status: 401, detail: "API key required (Authorization: Bearer KEY or X-API-Key: KEY)" }));
}

// ---- HTTP "Payment" authentication scheme, method "x402", intent "charge" ----
const rfc3339 = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const consumedChallenges = new Set(); // challenge ids used (or being used right now)

function mppResource(url) {
  return { url, description: "Tollgate mock resource", mimeType: "application/json" };
}
function mppRequest(url, accepted) {
  return {
    amount: accepted.amount,
    currency: accepted.asset,
    recipient: accepted.payTo,
    description: "Tollgate mock resource",
    methodDetails: { x402Version: 2, resource: mppResource(url), accepted },
  };
}
function mppChallenge(url, accepted) {
  return Challenge.from({
    realm: MPP_REALM,
    method: "x402",
    intent: "charge",
    request: mppRequest(url, accepted),
    description: "One call to the Tollgate mock resource",
    expires: rfc3339(Date.now() + MPP_TTL_SECONDS * 1000),
    // A random nonce in `opaque` (HMAC-bound, echoed by the client) makes every id unique. Without it
    // the id is a pure function of (realm, method, intent, request, expires): two 402s for the same
    // resource in the same second get the SAME id, and a single-use id store refuses the second one.
    meta: { nonce: randomBytes(16).toString("base64url") },
    secretKey: MPP_SECRET, // mppx reads it from the parameters (its second argument is ignored)
  });
}
// A challenge for a method this server never accepts, to make clients pick the right one.
function tempoChallenge() {
  return Challenge.from({
    realm: MPP_REALM,
    method: "tempo",
    intent: "charge",
    request: { amount: "10000", currency: "0x20c0000000000000000000000000000000000001", recipient: PAY_TO, methodDetails: { chainId: 4217 } },
    expires: rfc3339(Date.now() + MPP_TTL_SECONDS * 1000),
    secretKey: MPP_SECRET,
  });
}
const MPP_TITLES = {
  "payment-required": "Payment Required",
  "malformed-credential": "Malformed Credential",
  "invalid-challenge": "Invalid Challenge",
  "verification-failed": "Payment Verification Failed",
};
function mppPaymentRequired(res, url, route, kind, detail) {
  const ch = mppChallenge(url, route.accepted);
  const values = [];
  if (route.bearer) values.push(`Bearer realm="${MPP_REALM}"`);
  if (route.tempo) values.push(Challenge.serialize(tempoChallenge()));
  values.push(Challenge.serialize(ch));
  const text = JSON.stringify({
    type: `https://paymentauth.org/problems/${kind}`,
    title: MPP_TITLES[kind],
    status: 402,
    detail,
    challengeId: ch.id,
  });
  res.writeHead(402, {
    "Content-Type": "application/problem+json",
    "Cache-Control": "no-store",
    "WWW-Authenticate": route.joined ? values.join(", ") : values, // an array: one header line each
  });
  res.end(text);
}

async function mppHandle(req, res, url, route) {
  const fail = (kind, detail) => mppPaymentRequired(res, url, route, kind, detail);
  const fromPaymentAuthorization = req.headers["payment-authorization"];
  const auth = req.headers.authorization;
  const fromAuthorization = auth && /^Payment\s/i.test(auth) ? auth : undefined;
  if (fromPaymentAuthorization && fromAuthorization) {
    return problem(res, 400, {}, "Bad Request", "more than one Payment credential (Authorization and Payment-Authorization)");
  }
  const raw = fromPaymentAuthorization ?? fromAuthorization;
  if (!raw) return fail("payment-required", "Payment is required.");

  let credential;
  try {
    credential = Credential.deserialize(raw);
  } catch (e) {
    return fail("malformed-credential", `credential is not base64url JSON of {challenge, payload}: ${e.message}`);
  }
  const ch = credential.challenge;
  if (!Challenge.verify(ch, { secretKey: MPP_SECRET }) || ch.realm !== MPP_REALM || ch.method !== "x402" || ch.intent !== "charge") {
    return fail("invalid-challenge", "challenge id does not match its parameters (not issued by this server)");
  }
  if (!ch.expires || Date.parse(ch.expires) <= Date.now()) return fail("invalid-challenge", "challenge expired");
  const details = ch.request?.methodDetails;
  if (details?.resource?.url !== url || !deepEqual(details?.accepted, route.accepted)) {
    return fail("invalid-challenge", "challenge was issued for another resource or price");
  }
  if (consumedChallenges.has(ch.id)) return fail("invalid-challenge", "challenge already used");
  consumedChallenges.add(ch.id); // reserved before any await: a concurrent replay sees it as used

  let settled;
  try {
    const paymentPayload = credential.payload;
    if (paymentPayload?.x402Version !== 2 || !matches(details.accepted, paymentPayload.accepted)) {
      consumedChallenges.delete(ch.id);
      return fail("verification-failed", "payload is not an x402 v2 PaymentPayload for the challenged offer");
    }
    const body = { x402Version: 2, paymentPayload, paymentRequirements: details.accepted };
    const verified = await facilitator("/verify", body);
    if (!verified.isValid) {
      consumedChallenges.delete(ch.id);
      return fail("verification-failed", verified.invalidReason || "invalid payment");
    }
    settled = await facilitator("/settle", body);
    if (!settled.success) {
      consumedChallenges.delete(ch.id);
      return fail("verification-failed", settled.errorReason || "settlement failed");
    }
  } catch (e) {
    consumedChallenges.delete(ch.id);
    throw e;
  }
  const receipt = { status: "success", method: "x402", timestamp: rfc3339(Date.now()), reference: settled.transaction };
  Receipt.from(receipt); // mppx's schema check
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "private",
    "Payment-Receipt": Receipt.serialize(receipt),
  });
  res.end(JSON.stringify({ paid: true, path: new URL(url).pathname, payer: settled.payer, challengeId: ch.id }));
}

async function facilitator(path, body) {
  const r = await fetch(`${FACILITATOR_URL}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return r.json();
}

const server = http.createServer(async (req, res) => {
  const u = new URL(req.url, `http://${req.headers.host}`);
  const resourceUrl = u.href;
  try {
    if (u.pathname === "/free") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ free: true }));
    }
    if (u.pathname === "/no-header") {
      return problem(res, 402, {}, "Payment Required", "this 402 carries no PAYMENT-REQUIRED header");
    }
    if (KEYED.has(u.pathname) && !apiKeyOk(req)) return unauthorized(res);
    const mppRoute = MPP_ROUTES[u.pathname];
    if (mppRoute) return await mppHandle(req, res, resourceUrl, mppRoute);
    const accepts = ROUTES[u.pathname];
    if (!accepts) return problem(res, 404, {}, "Not Found", u.pathname);

    const sig = req.headers["payment-signature"];
    if (!sig) return challenge(res, resourceUrl, accepts, "PAYMENT-SIGNATURE header is required");

    let paymentPayload;
    try {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(sig)) throw new Error("not standard base64");
      paymentPayload = unb64(sig);
    } catch (e) {
      return problem(res, 400, {}, "Bad Request", `PAYMENT-SIGNATURE is not base64 JSON: ${e.message}`);
    }
    const requirements = accepts.find((a) => matches(a, paymentPayload.accepted));
    if (paymentPayload.x402Version !== 2 || !requirements) {
      return challenge(res, resourceUrl, accepts, "No matching payment requirements");
    }
    const body = { x402Version: 2, paymentPayload, paymentRequirements: requirements };
    const verified = await facilitator("/verify", body);
    if (!verified.isValid) return challenge(res, resourceUrl, accepts, verified.invalidReason || "invalid payment");
    const settled = await facilitator("/settle", body);
    if (!settled.success) {
      return problem(res, 402, { "PAYMENT-RESPONSE": b64(settled) }, "Payment Failed", settled.errorReason || "settlement failed");
    }
    const text = JSON.stringify({ paid: true, path: u.pathname, payer: settled.payer });
    res.writeHead(200, {
      "Content-Type": "application/json",
      "PAYMENT-RESPONSE": b64(settled),
      "Access-Control-Expose-Headers": "PAYMENT-RESPONSE",
      "Cache-Control": "private",
    });
    res.end(text);
  } catch (e) {
    problem(res, 500, {}, "Internal Server Error", String(e?.message || e));
  }
});

server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  process.stdout.write(`mock-server listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
