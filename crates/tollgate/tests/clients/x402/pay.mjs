// The official x402 v2 client (@x402/fetch + @x402/evm exact scheme) paying a URL.
//
//   node pay.mjs URL [--header "Name: value"]... [--parse-only] [--no-spend-limit] [--method M] [--data BODY]
//
// Default: GET URL through wrapFetchWithPayment; on a 402 carrying PAYMENT-REQUIRED the wrapper
// signs an EIP-3009 authorization with a fixed test key and retries with PAYMENT-SIGNATURE.
// Prints one JSON line to stdout:
//   {status, body, paymentResponse, requestHeaders, paymentPayload, requests}
//     paymentResponse: decoded PAYMENT-RESPONSE (or X-PAYMENT-RESPONSE) of the final answer, else null
//     requestHeaders:  headers of the last request the wrapper sent (the paid retry when it paid)
//     paymentPayload:  decoded PAYMENT-SIGNATURE that was sent, else null
//     requests:        how many HTTP requests the wrapper made (1 = no payment, 2 = paid retry)
// If the wrapper throws (e.g. "Failed to parse payment requirements: Invalid payment required response"),
// prints {error, requests} and exits 1.
//
// --parse-only: one plain fetch, no payment; reads the 402 exactly as the wrapper does
// (x402HTTPClient.getPaymentRequiredResponse(getHeader, body)) and prints
//   {status, paymentRequired, schemaErrors, selected, selectError}
//     schemaErrors: null, or the zod issues of @x402/core's PaymentRequired schema (the client itself
//                   does not run this check; servers and facilitators do)
//     selected:     the accepts[] entry x402Client.selectPaymentRequirements would pay, or null
//     selectError:  why the client would refuse to pay (no matching scheme/network, spend controls...)
// Exits 1 with the parser's message on stderr (and {status, error} on stdout) when parsing fails.
//
// --header "Name: value" (repeatable): add this header to every request the wrapper sends (the first
// request and the paid retry) and to the --parse-only request, e.g. --header "Authorization: Bearer KEY"
// or --header "X-API-Key: KEY". Split at the first ":", both sides trimmed. Repeating a name appends
// (fetch joins the values with ", "). A --header Content-Type replaces the JSON default of --data.
//
// --no-spend-limit: client.setSpendControls(false). By default the official client only pays known
// default assets (e.g. USDC on eip155:84532) and at most $1 per payment.
//
// Env: X402_PRIVATE_KEY overrides the payer key (default: anvil's first well-known key).

import { x402Client, x402HTTPClient, wrapFetchWithPayment } from "@x402/fetch";
import { decodePaymentSignatureHeader } from "@x402/core/http";
import { parsePaymentRequired } from "@x402/core/schemas";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";

const PRIVATE_KEY =
  process.env.X402_PRIVATE_KEY || "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

function usage(msg) {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write(
    'usage: node pay.mjs URL [--header "Name: value"]... [--parse-only] [--no-spend-limit] [--method M] [--data BODY]\n',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
let url;
let parseOnly = false;
let noSpendLimit = false;
let method = "GET";
let data;
const extraHeaders = []; // [name, value] pairs from --header, in order
function parseHeader(h) {
  const i = h.indexOf(":");
  const name = i > 0 ? h.slice(0, i).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) usage(`--header needs "Name: value", got ${JSON.stringify(h)}`);
  return [name, h.slice(i + 1).trim()];
}
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--parse-only") parseOnly = true;
  else if (a === "--no-spend-limit") noSpendLimit = true;
  else if (a === "--method") method = args[++i] ?? usage("--method needs a value");
  else if (a === "--data") data = args[++i] ?? usage("--data needs a value");
  else if (a === "--header") extraHeaders.push(parseHeader(args[++i] ?? usage("--header needs a value")));
  else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else if (!url) url = a;
  else usage(`unexpected argument ${a}`);
}
if (!url) usage("URL is required");

const account = privateKeyToAccount(PRIVATE_KEY);
const client = new x402Client();
registerExactEvmScheme(client, { signer: account }); // v2: "eip155:*" -> ExactEvmScheme
if (noSpendLimit) client.setSpendControls(false);
const httpClient = new x402HTTPClient(client);

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const headers = new Headers();
if (data !== undefined && !extraHeaders.some(([n]) => n.toLowerCase() === "content-type")) {
  headers.set("Content-Type", "application/json");
}
for (const [name, value] of extraHeaders) {
  try {
    headers.append(name, value);
  } catch (e) {
    usage(`--header ${name}: ${e.message}`);
  }
}
const init = { method, headers, ...(data !== undefined ? { body: data } : {}) };

if (parseOnly) {
  const res = await fetch(url, init);
  // Exactly what wrapFetchWithPayment does with a 402 answer.
  let body;
  try {
    const text = await res.text();
    if (text) body = JSON.parse(text);
  } catch {}
  let paymentRequired;
  try {
    paymentRequired = httpClient.getPaymentRequiredResponse((name) => res.headers.get(name), body);
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    out({ status: res.status, error: e.message });
    process.exit(1);
  }
  const parsed = parsePaymentRequired(paymentRequired);
  let selected = null;
  let selectError = null;
  try {
    selected = client.selectPaymentRequirements(paymentRequired.x402Version, paymentRequired.accepts ?? []);
  } catch (e) {
    selectError = e.message;
  }
  out({
    status: res.status,
    paymentRequired,
    schemaErrors: parsed.success ? null : parsed.error.issues,
    selected: selected ?? null,
    selectError,
  });
  process.exit(0);
}

// Record what the wrapper sends (it calls fetch with a Request object).
const sent = [];
const recordingFetch = async (input, init2) => {
  const r = input instanceof Request ? input : new Request(input, init2);
  sent.push({ method: r.method, url: r.url, headers: Object.fromEntries(r.headers.entries()) });
  return fetch(r);
};
const fetchWithPayment = wrapFetchWithPayment(recordingFetch, client);

let res;
try {
  res = await fetchWithPayment(url, init);
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  out({ error: e.message, requests: sent.length });
  process.exit(1);
}
const body = await res.text();
let paymentResponse = null;
try {
  paymentResponse = httpClient.getPaymentSettleResponse((name) => res.headers.get(name));
} catch {}
const last = sent[sent.length - 1] ?? null;
const sig = last?.headers["payment-signature"];
out({
  status: res.status,
  body,
  paymentResponse,
  requestHeaders: last?.headers ?? null,
  paymentPayload: sig ? decodePaymentSignatureHeader(sig) : null,
  requests: sent.length,
});
