/**
 * Webhooks out, received by a real endpoint that verifies every delivery with the
 * `standardwebhooks` library (npm) and fails the first attempts: the delivery is retried
 * until it lands, every attempt is recorded with its answer, a balance crossing the
 * low-balance threshold is announced, and "Resend" in Settings sends it again.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callGateway, screenshot, useStack } from './harness';
import { waitFor } from './wait';

// Retries after 200 ms instead of 5 s and more (read by the server this file starts).
process.env.TOLLGATE_WEBHOOK_RETRY_MS = '200';
const stack = useStack();

interface Received {
  id: string;
  type: string;
  data: Record<string, unknown>;
}
let receiver: Server;
let receiverUrl = '';
let secret = '';
let failuresLeft = 2;
const attempts: string[] = [];
const verified: Received[] = [];
const forgeries: string[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      attempts.push(headers['webhook-id']);
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        res.writeHead(500).end('not yet');
        return;
      }
      try {
        const payload = new Webhook(secret).verify(body, headers) as Received;
        verified.push({ ...payload, id: headers['webhook-id'] });
        // The same delivery under another secret does not verify: the check is real.
        try {
          new Webhook('whsec_' + Buffer.from('another secret, 24 bytes').toString('base64')).verify(body, headers);
          forgeries.push('verified with the wrong secret');
        } catch {
          /* expected */
        }
        res.writeHead(204).end();
      } catch (e) {
        forgeries.push(String(e));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const call = stack.tollgate.call.bind(stack.tollgate);
  const created = await call<{ secret: string }>('webhook.create', { url: receiverUrl, events: ['credits.topped_up', 'balance.low'] });
  secret = created.secret;
  await call('plan.create', { name: 'Pro', credits_per_period: 7 });
  await call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 1 });
  await call('tenant.create', { name: 'acme', plan: 'pro' });
  await call('settings.set', { low_balance_threshold: 5 });
});

afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

interface Delivery {
  id: number;
  event_type: string;
  status: string;
  message_id: string;
  tries: { status: number | null }[];
}

describe('webhooks out', () => {
  it('retries a top-up event until the endpoint takes it, signed, and records every attempt', async () => {
    await stack.tollgate.call('credits.topup', { tenant: 'acme', amount: 3, idempotency_key: 'w1' });
    const got = await waitFor(async () => verified.find((v) => v.type === 'credits.topped_up') ?? null, 15_000, 'the verified top-up event');
    expect(got.data).toMatchObject({ tenant: 'acme', amount: 3, balance: 10 });
    expect(forgeries, 'every delivery verified, and only with the right secret').toEqual([]);
    // The sender records the attempt after the receiver's answer: on a loaded machine that
    // can land a moment after the receiver has the event.
    const recorded = async () => {
      const deliveries = await stack.tollgate.call<Delivery[]>('webhook.deliveries', {});
      const topup = deliveries.find((d) => d.event_type === 'credits.topped_up');
      return topup?.status === 'delivered' ? topup : null;
    };
    const topup = await waitFor(recorded, 15_000, 'the top-up delivery recorded as delivered');
    expect(topup.status).toBe('delivered');
    expect(topup.tries.map((t) => t.status), 'two failures, then the success').toEqual([500, 500, 204]);
    expect(attempts.filter((a) => a === topup.message_id).length, 'one webhook-id across the retries').toBe(3);
  });

  it('announces a balance crossing the low-balance threshold, from the gateway', async () => {
    const key = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'acme' })).secret;
    for (let i = 0; i < 5; i++) expect((await callGateway(stack.tollgate.gateway, key, '/v1/x')).status).toBe(200);
    const low = await waitFor(async () => verified.find((v) => v.type === 'balance.low') ?? null, 15_000, 'the balance.low event');
    expect(low.data).toMatchObject({ tenant: 'acme', balance: 5, threshold: 5 });
    expect(verified.filter((v) => v.type === 'balance.low').length, 'a crossing, not every request below it').toBe(1);
  });

  it('shows the deliveries in Settings and sends one again on "Resend"', async () => {
    const { page } = stack.browser;
    await page.goto(stack.tollgate.dashboard);
    await page.getByRole('link', { name: 'Monitor', exact: true }).first().waitFor();
    await page.evaluate(() => (location.hash = '#/settings'));
    const row = page.getByTestId('webhook-delivery').filter({ hasText: 'credits.topped_up' });
    await row.waitFor();
    expect(await row.getByTestId('webhook-tries').textContent()).toContain('500, 500, 204');
    const before = verified.length;
    await row.getByRole('button', { name: /Resend/ }).click();
    await waitFor(async () => verified.length > before, 10_000, 'the resent delivery');
    await waitFor(async () => ((await row.getByTestId('webhook-tries').textContent()) ?? '').includes('204, 204'), 10_000, 'the new attempt listed');
    await page.getByTestId('webhooks').scrollIntoViewIfNeeded();
    await screenshot(page, 'settings-webhooks');
  });
});
