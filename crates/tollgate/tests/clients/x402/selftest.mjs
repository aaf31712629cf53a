// Self-test of the kit: starts facilitator.mjs and mock-server.mjs on 127.0.0.1 (ephemeral ports),
// pays through pay.mjs (the official client) and payment-auth.mjs (HTTP "Payment" auth scheme carrying
// x402, framed by mppx), and checks the facilitator's verify/settle rules.
//   node selftest.mjs      -> one line per check, then "N passed, N failed"; exit 1 on any failure

import { spawn, execFile } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { x402Client } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";
import { Challenge, Credential } from "mppx";

const here = dirname(fileURLToPath(import.meta.url));
const children = [];

async function start(script, env, prefix) {
  const child = spawn(process.execPath, [join(here, script)], {
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let buf = "";
  for await (const chunk of child.stdout) {
    buf += chunk;
    const m = buf.match(new RegExp(`^${prefix} listening on (http://127\\.0\\.0\\.1:\\d+)\\n`));
    if (m) return m[1];
  }
  throw new Error(`${script} exited before listening: ${buf}`);
}

function run(script, ...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(here, script), ...args], (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, json: stdout.trim() ? JSON.parse(stdout.trim().split("\n").pop()) : null, stderr }),
    );
  });
}
const pay = (...args) => run("pay.mjs", ...args);
const payAuth = (...args) => run("payment-auth.mjs", ...args);
const MPP_SECRET = "tollgate-mock-secret-0123456789abcdef"; // mock-server.mjs's default
const PROBLEMS = "https://paymentauth.org/problems/";

const requirementsOf = (request) => request?.methodDetails?.accepted ?? {};
const post = async (url, body) =>
  (await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })).json();

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `: ${JSON.stringify(detail)}`}`);
}

try {
  const F = await start("facilitator.mjs", {}, "facilitator");
  const M = await start("mock-server.mjs", { FACILITATOR_URL: F }, "mock-server");

  const sup = await (await fetch(`${F}/supported`)).json();
  check("GET /supported lists exact on eip155:84532", sup.kinds?.[0]?.network === "eip155:84532" && Array.isArray(sup.extensions) && sup.signers?.["eip155:*"]?.length === 1, sup);

  const parsed = await pay(`${M}/paid`, "--parse-only");
  check("--parse-only decodes the 402", parsed.code === 0 && parsed.json.status === 402 && parsed.json.paymentRequired.x402Version === 2 && parsed.json.schemaErrors === null, parsed);

  const paid = await pay(`${M}/paid`);
  check("official client pays /paid", paid.code === 0 && paid.json.status === 200 && paid.json.paymentResponse?.success === true && paid.json.requests === 2, paid);
  const settled = (await (await fetch(`${F}/settlements`)).json()).settlements;
  check("facilitator recorded the settlement", settled.length === 1 && settled[0].transaction === paid.json.paymentResponse.transaction && settled[0].amount === "10000", settled);

  const two = await pay(`${M}/paid-two`);
  check("client skips the solana entry and pays the EVM one", two.code === 0 && two.json.status === 200 && two.json.paymentPayload.accepted.network === "eip155:84532", two);

  const custom = await pay(`${M}/custom-asset`);
  check("client refuses a non-default asset by default", custom.code === 1 && /spendControls/.test(custom.json.error), custom);
  const customOk = await pay(`${M}/custom-asset`, "--no-spend-limit");
  check("--no-spend-limit pays a non-default asset", customOk.code === 0 && customOk.json.status === 200, customOk);

  const noHeader = await pay(`${M}/no-header`);
  check("402 without PAYMENT-REQUIRED: client refuses", noHeader.code === 1 && /Invalid payment required response/.test(noHeader.json.error), noHeader);
  const noHeaderParse = await pay(`${M}/no-header`, "--parse-only");
  check("--parse-only fails the same way", noHeaderParse.code === 1 && noHeaderParse.json.error === "Invalid payment required response", noHeaderParse);

  // pay.mjs --header: the API key reaches the first request and the paid retry.
  const keyless = await pay(`${M}/keyed`);
  check("pay.mjs without the API key: 401, no payment", keyless.code === 0 && keyless.json.status === 401 && keyless.json.requests === 1 && keyless.json.paymentPayload === null, keyless);
  const keyed = await pay(`${M}/keyed`, "--header", "Authorization: Bearer test-key", "--header", "X-Trace: t1");
  check("pay.mjs --header: pays /keyed, headers on the paid retry", keyed.code === 0 && keyed.json.status === 200 && keyed.json.requests === 2 && keyed.json.requestHeaders.authorization === "Bearer test-key" && keyed.json.requestHeaders["x-trace"] === "t1" && !!keyed.json.requestHeaders["payment-signature"], keyed);
  const keyedParse = await pay(`${M}/keyed`, "--parse-only", "--header", "X-API-Key: test-key");
  check("pay.mjs --parse-only --header X-API-Key gets the 402", keyedParse.code === 0 && keyedParse.json.status === 402 && keyedParse.json.selected?.amount === "10000", keyedParse);
  const badHeader = await pay(`${M}/keyed`, "--header", "no colon here");
  check("pay.mjs --header without a colon: usage error (exit 2)", badHeader.code === 2, badHeader);

  // HTTP "Payment" authentication scheme (payment-auth.mjs + mppx) against the mock's /mpp/* routes.
  const settledCount = async () => (await (await fetch(`${F}/settlements`)).json()).settlements.length;
  const lastCall = async (path) => (await (await fetch(`${F}/requests`)).json()).requests.filter((r) => r.path === path).pop();
  const isProblem = (p, kind) => p?.type === `${PROBLEMS}${kind}` && p.status === 402;

  const mpParse = await payAuth(`${M}/mpp/keyed`, "--parse-only", "--header", "Authorization: Bearer test-key");
  const ch = mpParse.json?.challenge;
  check("payment-auth --parse-only: x402/charge challenge next to Bearer, HMAC-bound id", mpParse.code === 0 && mpParse.json.status === 402 && ch?.method === "x402" && ch.intent === "charge" && ch.realm === "tollgate-mock" && Challenge.verify(ch, { secretKey: MPP_SECRET }) && isProblem(mpParse.json.problem, "payment-required") && mpParse.json.problem.challengeId === ch.id, mpParse);
  const rq = ch?.request;
  check("payment-auth --parse-only: request = {amount, currency, recipient, description, methodDetails{x402Version, resource, accepted}}", rq?.amount === "10000" && rq.currency === requirementsOf(rq).asset && rq.recipient === requirementsOf(rq).payTo && typeof rq.description === "string" && rq.methodDetails.x402Version === 2 && rq.methodDetails.resource.url === `${M}/mpp/keyed` && rq.methodDetails.accepted.scheme === "exact" && rq.methodDetails.accepted.maxTimeoutSeconds === 60, rq);
  const mpMulti = await payAuth(`${M}/mpp/multi`, "--parse-only", "--header", "X-API-Key: test-key");
  check("payment-auth --parse-only: one merged WWW-Authenticate line (Bearer, tempo, x402) -> the x402 one", mpMulti.code === 0 && mpMulti.json.challenge.method === "x402", mpMulti);
  const mpNone = await payAuth(`${M}/paid`, "--parse-only");
  check("payment-auth --parse-only: a plain x402 402 has no Payment challenge -> exit 1", mpNone.code === 1 && mpNone.json.status === 402 && /No Payment schemes found|Missing WWW-Authenticate/.test(mpNone.json.error), mpNone);
  const mpUnauth = await payAuth(`${M}/mpp/keyed`);
  check("payment-auth without the API key: 401 passed through, nothing sent", mpUnauth.code === 0 && mpUnauth.json.status === 401 && mpUnauth.json.credential === null && mpUnauth.json.requests === 1, mpUnauth);

  const before = await settledCount();
  const mpPaid = await payAuth(`${M}/mpp/keyed`, "--header", "Authorization: Bearer test-key");
  const cred = mpPaid.json?.credential;
  const settle1 = await lastCall("/settle");
  check("payment-auth pays with Payment-Authorization (Bearer key kept)", mpPaid.code === 0 && mpPaid.json.status === 200 && mpPaid.json.requests === 2 && (await settledCount()) === before + 1, mpPaid);
  check("receipt: {status:success, method:x402, timestamp, reference: settle tx}", mpPaid.json?.receipt?.status === "success" && mpPaid.json.receipt.method === "x402" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(mpPaid.json.receipt.timestamp) && mpPaid.json.receipt.reference === settle1?.answer?.transaction && mpPaid.json.receiptSchemaError === null, mpPaid.json?.receipt);
  check("credential: {challenge echo with request as base64url, payload = x402 PaymentPayload}", typeof cred?.challenge?.request === "string" && cred.challenge.id === JSON.parse(mpPaid.json.body).challengeId && cred.payload.x402Version === 2 && cred.payload.payload.authorization.value === "10000" && cred.payload.resource.url === `${M}/mpp/keyed`, cred);
  check("facilitator got paymentPayload = credential.payload, paymentRequirements = methodDetails.accepted", JSON.stringify(settle1?.body?.paymentPayload) === JSON.stringify(cred?.payload) && JSON.stringify(settle1?.body?.paymentRequirements) === JSON.stringify(cred?.payload?.accepted), settle1?.body);

  const mpAuthz = await payAuth(`${M}/mpp/multi`, "--credential-header", "authorization", "--header", "Authorization: Bearer test-key", "--header", "X-API-Key: test-key", "--method", "POST", "--data", '{"q":1}');
  check("payment-auth --credential-header authorization (replaces the Bearer header; POST body)", mpAuthz.code === 0 && mpAuthz.json.status === 200 && mpAuthz.json.receipt?.status === "success", mpAuthz);
  const mpAuthzNoKey = await payAuth(`${M}/mpp/keyed`, "--credential-header", "authorization", "--header", "Authorization: Bearer test-key");
  check("... and with only a Bearer key that header is gone on the retry: 401", mpAuthzNoKey.code === 0 && mpAuthzNoKey.json.status === 401 && mpAuthzNoKey.json.requests === 2, mpAuthzNoKey);

  const before2 = await settledCount();
  const mpReplay = await payAuth(`${M}/mpp/paid`, "--replay");
  check("payment-auth --replay: paid once, replay refused with 402 invalid-challenge/verification-failed, settled once", mpReplay.code === 0 && mpReplay.json.status === 200 && mpReplay.json.requests === 3 && mpReplay.json.replay?.status === 402 && mpReplay.json.replay.receipt === null && (isProblem(mpReplay.json.replay.problem, "invalid-challenge") || isProblem(mpReplay.json.replay.problem, "verification-failed")) && (await settledCount()) === before2 + 1, mpReplay);

  // Server-side refusals, with credentials built here by mppx.
  const fresh = async (path) => {
    const r = await fetch(`${M}${path}`);
    await r.text();
    return Challenge.fromResponseList(r).find((c) => c.method === "x402");
  };
  const sendCred = async (path, value, header = "Payment-Authorization", extra = {}) => {
    const r = await fetch(`${M}${path}`, { headers: { [header]: value, ...extra } });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: r.status, json, www: r.headers.get("www-authenticate"), receipt: r.headers.get("payment-receipt") };
  };
  const oldPayload = mpReplay.json?.credential?.payload;
  const c2 = await fresh("/mpp/paid");
  const reused = await sendCred("/mpp/paid", Credential.serialize(Credential.from({ challenge: c2, payload: oldPayload })));
  check("fresh challenge + already-settled x402 payload -> 402 verification-failed (nonce used), fresh challenge", reused.status === 402 && isProblem(reused.json, "verification-failed") && /nonce_already_used/.test(reused.json.detail) && /^Payment /.test(reused.www) && reused.receipt === null, reused);
  const c3 = await fresh("/mpp/paid");
  check("two challenges for one resource in the same second have different ids (nonce in opaque)", c2.id !== c3.id && typeof c3.opaque === "string" && Challenge.verify(c3, { secretKey: MPP_SECRET }), [c2, c3]);
  const tampered = await sendCred("/mpp/paid", Credential.serialize(Credential.from({ challenge: { ...c3, request: { ...c3.request, amount: "1" } }, payload: oldPayload })));
  check("tampered challenge request (same id) -> 402 invalid-challenge", tampered.status === 402 && isProblem(tampered.json, "invalid-challenge"), tampered);
  const otherRoute = await sendCred("/mpp/multi", Credential.serialize(Credential.from({ challenge: c3, payload: oldPayload })), "Payment-Authorization", { "X-API-Key": "test-key" });
  check("challenge issued for another URL -> 402 invalid-challenge", otherRoute.status === 402 && isProblem(otherRoute.json, "invalid-challenge"), otherRoute);
  const malformed = await sendCred("/mpp/paid", "Payment not*base64url");
  check("malformed credential -> 402 malformed-credential", malformed.status === 402 && isProblem(malformed.json, "malformed-credential"), malformed);
  const both = await sendCred("/mpp/paid", "Payment e30", "Payment-Authorization", { Authorization: "Payment e30" });
  check("two Payment credentials (Authorization and Payment-Authorization) -> 400", both.status === 400, both);

  // Facilitator rules, on fresh payloads signed by the official client.
  const requirements = {
    scheme: "exact",
    network: "eip155:84532",
    amount: "10000",
    asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
    payTo: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    maxTimeoutSeconds: 60,
    extra: { name: "USDC", version: "2" },
  };
  const client = new x402Client();
  registerExactEvmScheme(client, {
    signer: privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
  });
  const sign = (reqs) =>
    client.createPaymentPayload({ x402Version: 2, resource: { url: "http://127.0.0.1/x" }, accepts: [reqs] });
  const body = (paymentPayload, paymentRequirements = requirements) => ({ x402Version: 2, paymentPayload, paymentRequirements });

  const good = await sign(requirements);
  check("verify: valid", (await post(`${F}/verify`, body(good))).isValid === true);
  const reasons = {
    "wrong amount": [body(good, { ...requirements, amount: "10001" }), "invalid_exact_evm_payload_authorization_value_mismatch"],
    "wrong payTo": [body(good, { ...requirements, payTo: "0x90F79bf6EB2c4F870365E785982E1f101E93b906" }), "invalid_exact_evm_recipient_mismatch"],
    "wrong domain name": [body(good, { ...requirements, extra: { name: "USD Coin", version: "2" } }), "invalid_exact_evm_signature"],
    "wrong chain": [body({ ...good, accepted: { ...good.accepted, network: "eip155:8453" } }, { ...requirements, network: "eip155:8453" }), "invalid_exact_evm_signature"],
    "tampered value": [body({ ...good, payload: { ...good.payload, authorization: { ...good.payload.authorization, value: "1" } } }, { ...requirements, amount: "1" }), "invalid_exact_evm_signature"],
    "missing extra": [body(good, { ...requirements, extra: undefined }), "invalid_exact_evm_missing_eip712_domain"],
    "network mismatch": [body(good, { ...requirements, network: "eip155:1" }), "invalid_exact_evm_network_mismatch"],
  };
  for (const [name, [b, reason]] of Object.entries(reasons)) {
    const r = await post(`${F}/verify`, b);
    check(`verify: ${name} -> ${reason}`, r.isValid === false && r.invalidReason === reason, r);
  }
  const expired = await sign({ ...requirements, maxTimeoutSeconds: 3 });
  const e = await post(`${F}/verify`, body(expired, { ...requirements, maxTimeoutSeconds: 3 }));
  check("verify: validBefore too close -> valid_before", e.invalidReason === "invalid_exact_evm_payload_authorization_valid_before", e);

  const [s1, s2] = await Promise.all([post(`${F}/settle`, body(good)), post(`${F}/settle`, body(good))]);
  const wins = [s1, s2].filter((s) => s.success).length;
  check("settle: two concurrent settles of one nonce -> exactly one succeeds", wins === 1, [s1, s2]);
  const again = await post(`${F}/settle`, body(good));
  check("settle: replay -> success:false nonce_already_used", again.success === false && again.errorReason === "invalid_exact_evm_nonce_already_used" && again.transaction === "", again);

  await post(`${F}/control`, { settleFailure: "insufficient_funds" });
  const forcedPay = await pay(`${M}/paid`);
  check("forced settle failure -> 402 with PAYMENT-RESPONSE success:false", forcedPay.json.status === 402 && forcedPay.json.paymentResponse?.success === false && forcedPay.json.paymentResponse.errorReason === "insufficient_funds", forcedPay);
  await post(`${F}/control`, { settleFailure: null });
} catch (e) {
  failed++;
  console.log(`FAIL unexpected error: ${e.stack || e}`);
} finally {
  for (const c of children) c.kill("SIGTERM");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
