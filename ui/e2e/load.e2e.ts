/**
 * The monitor under a flood: 1,000 denials a second for 10 seconds. The page must stay
 * responsive (frame times and the latency of a click are measured and recorded in
 * `artifacts/ui/load-figures.json`) and its counters must be exact.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { artifacts, screenshot, useStack } from './harness';

const RATE = 1000; // denials per second
const SECONDS = 10;

const stack = useStack();
let key = '';

beforeAll(async () => {
  await stack.tollgate.call('plan.create', { name: 'Empty', credits_per_period: 0, features: ['echo'] });
  await stack.tollgate.call('tenant.create', { name: 'broke', plan: 'empty' });
  key = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'broke' })).secret;
  await stack.tollgate.call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 1, required_feature: 'echo' });
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

describe('the monitor under load', () => {
  it('stays responsive at 1,000 denials per second and counts every one', async () => {
    const { page } = stack.browser;
    await page.goto(stack.tollgate.dashboard);
    await page.getByTestId('counter-SERVED').first().waitFor();
    // Give the event stream a moment to connect before the flood.
    await page.waitForTimeout(500);
    await page.evaluate(() => {
      const w = window as unknown as { __frames: number[]; __stop: boolean };
      w.__frames = [];
      w.__stop = false;
      let last = performance.now();
      const tick = (t: number) => {
        w.__frames.push(t - last);
        last = t;
        if (!w.__stop) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });

    const statuses = new Map<number, number>();
    const clickLatencies: number[] = [];
    const started = Date.now();
    for (let second = 0; second < SECONDS; second++) {
      for (let slice = 0; slice < 10; slice++) {
        const due = started + second * 1000 + slice * 100;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
        void Promise.all(
          Array.from({ length: RATE / 10 }, () =>
            fetch(`${stack.tollgate.gateway}/v1/flood`, { headers: { Authorization: `Bearer ${key}` } }).then(async (r) => {
              await r.arrayBuffer();
              statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            }),
          ),
        );
      }
      // Once a second, measure how long a click takes to show its effect mid-flood.
      const t0 = Date.now();
      await page.getByRole('button', { name: 'Pause' }).click();
      await page.getByTestId('paused-banner').waitFor();
      clickLatencies.push(Date.now() - t0);
      await page.getByRole('button', { name: 'Resume' }).click();
    }
    const total = RATE * SECONDS;
    const deadline = Date.now() + 30_000;
    while ([...statuses.values()].reduce((a, b) => a + b, 0) < total && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const sendSeconds = (Date.now() - started) / 1000;
    expect(statuses.get(402), 'every request was denied for credits').toBe(total);

    const counted = async () => {
      const text = await page.getByTestId('counter-INSUFFICIENT_CREDITS').first().textContent({ timeout: 1000 });
      const digits = (text ?? '').replace(/\D/g, '');
      if (digits === '') throw new Error(`the 402 counter shows no number: ${JSON.stringify(text)}`);
      return Number(digits);
    };
    const settleBy = Date.now() + 15_000;
    while ((await counted()) < total && Date.now() < settleBy) await page.waitForTimeout(100);
    expect(await counted(), 'the counter is exact').toBe(total);
    await screenshot(page, 'monitor-under-load');

    const frames = await page.evaluate(() => {
      const w = window as unknown as { __frames: number[]; __stop: boolean };
      w.__stop = true;
      return w.__frames.slice(1);
    });
    const sorted = [...frames].sort((a, b) => a - b);
    const clicks = [...clickLatencies].sort((a, b) => a - b);
    const figures = {
      denials: total,
      send_seconds: sendSeconds,
      frames: frames.length,
      frame_ms: {
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1] ?? 0,
      },
      click_to_paint_ms: { p50: percentile(clicks, 50), max: clicks[clicks.length - 1] ?? 0 },
    };
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(path.join(artifacts, 'load-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`monitor under ${RATE} denials/s: ${JSON.stringify(figures)}`);
    // Stall detectors, not speed goals (those are measured, recorded above, and belong in a
    // bench): on a noisy 2-core machine running the server, the load and maybe a build, the
    // page keeps painting and a click is answered, typically within half a second.
    expect(figures.frames, 'frames kept coming').toBeGreaterThan(SECONDS * 10);
    expect(figures.frame_ms.p95, 'p95 frame time: no stalls').toBeLessThan(250);
    expect(figures.click_to_paint_ms.p50, 'a typical click answers within half a second').toBeLessThan(500);
    expect(figures.click_to_paint_ms.max, 'no click waits two seconds').toBeLessThan(2000);
  });
});
