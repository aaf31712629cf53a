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
//   /free         200, no payment
// A paid request: decode PAYMENT-SIGNATURE, match `accepted` against our accepts (core fields equal,
// our extra a subset of theirs), POST the facilitator's /verify then /settle with
// {x402Version, paymentPayload, paymentRequirements: <our matching entry>}, answer 200 with
// PAYMENT-RESPONSE (base64 JSON of the settle answer). Failures answer 402 with a fresh
// PAYMENT-REQUIRED whose `error` says why (settle failure: PAYMENT-RESPONSE with success:false).

import http from "node:http";

const FACILITATOR_URL = (process.env.FACILITATOR_URL || "").replace(/\/+$/, "");
if (!FACILITATOR_URL) {
  process.stderr.write("FACILITATOR_URL is required\n");
  process.exit(2);
}
const PAY_TO = process.env.PAY_TO || "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"; // anvil's third address

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
