// Self-test of the kit: starts facilitator.mjs and mock-server.mjs on 127.0.0.1 (ephemeral ports),
// pays through pay.mjs (the official client), and checks the facilitator's verify/settle rules.
//   node selftest.mjs      -> one line per check, then "N passed, N failed"; exit 1 on any failure

import { spawn, execFile } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { x402Client } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";

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

function pay(...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(here, "pay.mjs"), ...args], (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, json: stdout.trim() ? JSON.parse(stdout.trim().split("\n").pop()) : null, stderr }),
    );
  });
}

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
