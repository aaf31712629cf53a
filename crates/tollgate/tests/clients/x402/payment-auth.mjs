// Client side of the HTTP "Payment" authentication scheme (draft-ryan-httpauth-payment) with an x402
// proof: mppx parses the challenge and frames the credential, the official x402 client signs the payment.
//
//   node payment-auth.mjs URL [--header "Name: value"]... [--method M] [--data BODY] [--parse-only]
//                             [--credential-header authorization|payment-authorization] [--replay]
//                             [--no-spend-limit]
//
// 1. Sends METHOD URL with the --header headers (and BODY; Content-Type: application/json unless a
//    --header sets it). A non-402 answer is printed as is ({status, body, receipt, credential:null, requests:1}).
// 2. On a 402, parses every WWW-Authenticate challenge with mppx `Challenge.fromResponseList` (it reads the
//    comma-joined field, so separate lines and one merged line both work, and it skips `Bearer ...`)
//    and takes the first Payment challenge with method "x402" and intent "charge". Its decoded request:
//      {amount, currency, recipient, description?,
//       methodDetails: {x402Version: 2, resource: {...}, accepted: {<one x402 v2 accepts entry>}}}
// 3. Signs with @x402/core's x402Client + registerExactEvmScheme (fixed anvil #0 key, like pay.mjs):
//      createPaymentPayload({x402Version: 2, resource: methodDetails.resource, accepts: [methodDetails.accepted]})
//    and frames it: Credential.serialize(Credential.from({challenge, payload: <that PaymentPayload>}))
//    = "Payment " + base64url-nopad(JSON {challenge: {...echo, request: <base64url JCS>}, payload}).
// 4. Retries the same method, URL, headers and body with the credential in
//      --credential-header payment-authorization (default): `Payment-Authorization: Payment ...`, any
//                                                    --header Authorization is kept (API key)
//      --credential-header authorization:             `Authorization: Payment ...`, replacing any
//                                                    --header Authorization
// Prints one JSON line: {status, body, receipt, credential, requests}
//   body:       response text of the last answer
//   receipt:    decoded Payment-Receipt (base64url JSON) of the last answer, or null
//               ({raw, error} if it does not decode); receiptSchemaError: mppx Receipt schema complaint or null
//   credential: the decoded credential JSON that was sent, or null
//   requests:   HTTP requests made (1 = no payment, 2 = paid retry, 3 with --replay)
// --replay: after a 2xx paid retry, sends the very same request and credential once more and adds
//   replay: {status, body, receipt, problem} (problem = the body parsed as JSON, or null).
// --parse-only: only the first request; prints {status, challenge, problem} (challenge as mppx returns it,
//   request decoded; problem = the body parsed as JSON or null) and exits 0.
// Errors (no usable challenge, expired challenge, signing refused): prints {status, error, requests} and exits 1.
// --no-spend-limit: x402Client.setSpendControls(false) (pay.mjs has the same switch).
// Env: X402_PRIVATE_KEY overrides the payer key.

import { Challenge, Credential, Receipt } from "mppx";
import { x402Client } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";

const PRIVATE_KEY =
  process.env.X402_PRIVATE_KEY || "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

const USAGE =
  'usage: node payment-auth.mjs URL [--header "Name: value"]... [--method M] [--data BODY] [--parse-only]\n' +
  "                             [--credential-header authorization|payment-authorization] [--replay] [--no-spend-limit]\n";
function usage(msg) {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write(USAGE);
  process.exit(2);
}

const args = process.argv.slice(2);
let url;
let method = "GET";
let data;
let parseOnly = false;
let replay = false;
let noSpendLimit = false;
let credentialHeader = "payment-authorization";
const extraHeaders = [];
function parseHeader(h) {
  const i = h.indexOf(":");
  const name = i > 0 ? h.slice(0, i).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) usage(`--header needs "Name: value", got ${JSON.stringify(h)}`);
  return [name, h.slice(i + 1).trim()];
}
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--parse-only") parseOnly = true;
  else if (a === "--replay") replay = true;
  else if (a === "--no-spend-limit") noSpendLimit = true;
  else if (a === "--method") method = args[++i] ?? usage("--method needs a value");
  else if (a === "--data") data = args[++i] ?? usage("--data needs a value");
  else if (a === "--header") extraHeaders.push(parseHeader(args[++i] ?? usage("--header needs a value")));
  else if (a === "--credential-header") {
    credentialHeader = (args[++i] ?? usage("--credential-header needs a value")).toLowerCase();
    if (credentialHeader !== "authorization" && credentialHeader !== "payment-authorization") {
      usage("--credential-header must be authorization or payment-authorization");
    }
  } else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else if (!url) url = a;
  else usage(`unexpected argument ${a}`);
}
if (!url) usage("URL is required");

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
let requests = 0;
function fail(status, error) {
  process.stderr.write(`${error}\n`);
  out({ status, error, requests });
  process.exit(1);
}

function baseHeaders() {
  const h = new Headers();
  if (data !== undefined && !extraHeaders.some(([n]) => n.toLowerCase() === "content-type")) {
    h.set("Content-Type", "application/json");
  }
  for (const [name, value] of extraHeaders) {
    try {
      h.append(name, value);
    } catch (e) {
      usage(`--header ${name}: ${e.message}`);
    }
  }
  return h;
}
async function send(headers) {
  requests++;
  const res = await fetch(url, { method, headers, ...(data !== undefined ? { body: data } : {}) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { res, text, json };
}
function decodeReceipt(res) {
  const raw = res.headers.get("payment-receipt");
  if (raw === null) return { receipt: null, receiptSchemaError: null };
  let receipt;
  try {
    if (!/^[A-Za-z0-9_-]*$/.test(raw)) throw new Error("not base64url without padding");
    receipt = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch (e) {
    return { receipt: { raw, error: e.message }, receiptSchemaError: null };
  }
  let receiptSchemaError = null;
  try {
    Receipt.from(receipt);
  } catch (e) {
    receiptSchemaError = e.message;
  }
  return { receipt, receiptSchemaError };
}

let first;
try {
  first = await send(baseHeaders());
} catch (e) {
  fail(null, `request failed: ${e.cause?.message || e.message}`);
}
const status = first.res.status;

if (status !== 402 && !parseOnly) {
  out({ status, body: first.text, ...decodeReceipt(first.res), credential: null, requests });
  process.exit(0);
}

let challenges;
try {
  challenges = Challenge.fromResponseList(first.res);
} catch (e) {
  fail(status, `no Payment challenge could be parsed: ${e.message}`);
}
const challenge = challenges.find((c) => c.method === "x402" && c.intent === "charge");
if (!challenge) {
  fail(status, `no Payment challenge with method "x402" and intent "charge" (got ${challenges.map((c) => `${c.method}/${c.intent}`).join(", ")})`);
}

if (parseOnly) {
  out({ status, challenge, problem: first.json });
  process.exit(0);
}

if (challenge.expires && !(Date.parse(challenge.expires) > Date.now())) fail(status, `challenge expired at ${challenge.expires}`);
const details = challenge.request?.methodDetails;
if (details?.x402Version !== 2 || !details.accepted || !details.resource) {
  fail(status, "challenge request has no methodDetails {x402Version: 2, resource, accepted}");
}

const client = new x402Client();
registerExactEvmScheme(client, { signer: privateKeyToAccount(PRIVATE_KEY) });
if (noSpendLimit) client.setSpendControls(false);
let paymentPayload;
try {
  paymentPayload = await client.createPaymentPayload({
    x402Version: 2,
    resource: details.resource,
    accepts: [details.accepted],
  });
} catch (e) {
  fail(status, `Failed to create payment payload: ${e.message}`);
}

const credentialValue = Credential.serialize(Credential.from({ challenge, payload: paymentPayload }));
const credential = JSON.parse(Buffer.from(credentialValue.slice("Payment ".length), "base64url").toString("utf8"));
const paidHeaders = baseHeaders();
if (credentialHeader === "authorization") paidHeaders.set("Authorization", credentialValue);
else paidHeaders.set("Payment-Authorization", credentialValue);

let paid;
try {
  paid = await send(paidHeaders);
} catch (e) {
  fail(null, `paid retry failed: ${e.cause?.message || e.message}`);
}
const result = { status: paid.res.status, body: paid.text, ...decodeReceipt(paid.res), credential, requests };

if (replay) {
  if (paid.res.ok) {
    let again;
    try {
      again = await send(paidHeaders);
    } catch (e) {
      fail(null, `replay failed: ${e.cause?.message || e.message}`);
    }
    const { receipt } = decodeReceipt(again.res);
    result.replay = { status: again.res.status, body: again.text, receipt, problem: again.json };
  } else {
    result.replay = null; // only a successful paid retry is replayed
  }
  result.requests = requests;
}
out(result);
