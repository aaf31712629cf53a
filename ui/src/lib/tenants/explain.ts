import type { Explanation, Fix, GatewayEvent, SubscriptionStatus } from '$lib/backend';
import { humanize, subscriptionTone, type Tone } from '$lib/format/tone';

/** The tenant page's actions a fix opens (the forms that already exist there). */
export type FixAction = 'topup' | 'renew' | 'change-plan' | 'resume' | 'issue-key' | 'create-route';

/** A fix as a button: the label and the action it opens. */
export function fixButton(fix: Fix): { label: string; action: FixAction } {
  switch (fix) {
    case 'top_up':
      return { label: 'Top up', action: 'topup' };
    case 'renew':
      return { label: 'Renew', action: 'renew' };
    case 'change_plan':
      return { label: 'Change plan', action: 'change-plan' };
    case 'resume':
      return { label: 'Resume', action: 'resume' };
    case 'issue_key':
      return { label: 'Issue a key', action: 'issue-key' };
    case 'create_route':
      return { label: 'Add a route', action: 'create-route' };
  }
}

/** How the gateway's verdict on a tenant should look: refused everywhere is the alarm. */
export function verdictTone(e: Pick<Explanation, 'verdict'>): Tone {
  switch (e.verdict) {
    case 'serving':
      return 'ok';
    case 'partly_refused':
      return 'warn';
    case 'refused':
      return 'danger';
    default:
      return 'neutral';
  }
}

/** An answer's status as a tone: served, refused for payment or access, throttled. */
export function statusTone(status: number): Tone {
  if (status < 300) return 'ok';
  if (status === 429) return 'warn';
  return 'danger';
}

/**
 * The subscription badge as the gateway sees it: a stored status of `active` whose period
 * ended beyond its grace is refused, so it must not show green.
 */
export function subscriptionBadge(
  status: SubscriptionStatus,
  explanation: Explanation | null,
): { tone: Tone; text: string } {
  const refusal = explanation?.routes.find((r) => r.code?.startsWith('SUBSCRIPTION_'))?.code;
  if (refusal) {
    return { tone: 'danger', text: `subscription ${refusal.slice('SUBSCRIPTION_'.length).toLowerCase().replace('_', ' ')}: refused` };
  }
  return { tone: subscriptionTone(status), text: `subscription ${humanize(status)}` };
}

/**
 * Whether a live gateway decision for this tenant says something other than the page's
 * answers: a served call on a route the page says is refused, or a 402 / block it does not
 * show (credits drained by live traffic, a period that lapsed). Refusals that belong to one
 * key or pass by themselves (401, 403 scope, 429) say nothing about the tenant's standing.
 */
export function contradicts(e: Pick<Explanation, 'routes'>, event: Pick<GatewayEvent, 'route' | 'status' | 'code'>): boolean {
  const answer = e.routes.find((r) => r.route === event.route);
  if (!answer) return false;
  if (!event.code) return answer.status !== 200;
  if (event.status === 402 || event.code === 'TENANT_BLOCKED') return answer.code !== event.code;
  return false;
}
