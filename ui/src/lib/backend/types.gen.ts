// Generated from the Rust types by `make types` (crates/tollgate/src/admin/typescript.rs).
// Do not edit: a test fails when this file and the Rust types disagree.

/** `credits.adjust`: an operator's correction, up or down (never below zero). */
export interface Adjust {
  /** Signed credits: positive adds, negative removes. */
  amount: number;
  idempotency_key: string;
  /** Required: an adjustment must say why. */
  reason: string;
  tenant: string;
}

/** A key as stored and shown: never the secret, never its hash. */
export interface ApiKey {
  /**
   * Credits the key may spend per `budget_period` (402 `KEY_BUDGET_EXHAUSTED` past it);
   * none: only the tenant's balance limits it.
   */
  budget?: number | null;
  budget_period: BudgetPeriod;
  budget_since?: string | null;
  /**
   * Credits the key spent in the period starting `budget_since`, as last written (with
   * `calls`, so up to 5 s behind).
   */
  budget_spent: number;
  /**
   * Credits spent in the current period, as the gateway counts them now (`key.list`
   * fills it in; `budget_spent` when nothing runs).
   */
  budget_used?: number;
  /** Requests made with this key (served or refused), written with `last_used_at`. */
  calls: number;
  created_at: string;
  expires_at?: string | null;
  id: number;
  /**
   * The last request made with this key (whatever the answer), to the second. Written
   * with the traffic log's counts (every 5 s), so it trails the gateway by up to 5 s.
   */
  last_used_at?: string | null;
  name: string;
  /** The visible start of the key, e.g. `tg_live_AbCd1234`; identifies it in commands. */
  prefix: string;
  revoked_at?: string | null;
  /** What the key may do; a route can require one. */
  scopes: string[];
  tenant_id: number;
}

/** A tenant worth a look, and why. */
export interface AtRisk {
  /** Credits, counting usage the gateway holds in memory not yet written. */
  balance: number;
  name: string;
  period_end: string;
  plan: string;
  /** 402 answers within the last 24 hours. */
  recent_402s: number;
  risks: Risk[];
  status: SubscriptionStatus;
  tenant: string;
}

/** One console action as recorded. */
export interface AuditEntry {
  /** The console command, e.g. `credits.topup`. */
  action: string;
  /** Who did it. */
  actor: string;
  /** The thing after the action (absent when it was removed). */
  after?: Record<string, unknown> | null;
  /** When the action happened. */
  at: string;
  /** The thing before the action (absent when it was created). */
  before?: Record<string, unknown> | null;
  /** Position in the log; later actions have larger ids. */
  id: number;
  /** The operator's note, when given. */
  reason?: string | null;
  /** What it acted on, e.g. `tenant:acme`. */
  target: string;
}

/**
 * `audit.list`: the latest actions first (by when they happened, which is not always the
 * order they were recorded in: an import or the demo records actions dated earlier),
 * narrowed by any of the filters.
 */
export interface AuditList {
  /** Only this command (`credits.topup`) or group of commands (`credits`). */
  action?: string | null;
  /** Only actions by this actor: a whole one (`cli:alice`) or its kind (`cli`, `desktop`, `dashboard`). */
  actor?: string | null;
  /** Only entries listed after this one (its id, for paging). */
  before_id?: number | null;
  /** At most this many entries (1-1000, default 100). */
  limit?: number | null;
  /** Only actions at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z). */
  since?: string | null;
  /** Only actions on this target, e.g. `tenant:acme`, `plan:pro`, `settings`. */
  target?: string | null;
  /** Only actions on this tenant (its slug, e.g. `acme`). */
  tenant?: string | null;
}

/** How long one billing period lasts. */
export type BillingPeriod = 'day' | 'week' | 'month' | 'year';

/** The calendar period a key's budget covers, in UTC. */
export type BudgetPeriod = 'day' | 'month';

/**
 * `subscription.change-plan`: features and limits change at once; the period and the
 * balance stay as they are (the new plan's credits come with the next renewal).
 */
export interface ChangePlan {
  /** The new plan. */
  plan: string;
  reason?: string | null;
  tenant: string;
}

/**
 * `charge.show`: what a `strict` request was charged, to whom and when, by its request
 * id (the `x-request-id` the gateway answered with), while the request log holds it.
 */
export interface ChargeShow {
  /** The request id, e.g. `req_5f3a9c1e_000000000017`. */
  request_id: string;
}

/** A strict request's charge, as [`charged_request`] finds it. */
export interface ChargedRequest {
  /** Credits charged for this request (positive). */
  amount: number;
  /** When the request was served. */
  charged_at: string;
  /**
   * The ledger entry that holds it, with the tenant's other usage of its interval;
   * `null` while the charge waits in the strict journal for the next usage flush.
   */
  entry_id?: number | null;
  request_id: string;
  /** The tenant's slug. */
  tenant: string;
}

/** `cluster.nodes`. */
export type ClusterNodes = Record<string, unknown>;

/** Requests refused with one status and code. */
export interface CodeCount {
  code: string;
  requests: number;
  status: number;
}

/** `webhook.create`'s answer: the endpoint and its signing secret, shown this once. */
export interface CreatedWebhook {
  endpoint: WebhookEndpoint;
  /** `whsec_…`: give it to the receiver's Standard Webhooks library. */
  secret: string;
}

/** Credits moved on one UTC day, by why. */
export interface CreditDay {
  /** Operator corrections, signed. */
  adjusted: number;
  /** Charged for served requests (positive). */
  consumed: number;
  /** `YYYY-MM-DD`. */
  day: string;
  /** Credits that lapsed (positive). */
  expired: number;
  /** Plan credits granted at the start of periods. */
  granted: number;
  refunded: number;
  /** Requests those charges cover. */
  requests: number;
  topped_up: number;
}

/** What a credit movement did. */
export interface CreditMovement {
  /** The tenant's balance now. */
  balance: number;
  /** The ledger entry (the original one when this was a replay). */
  entry: LedgerEntry;
  /** True when the idempotency key had been used already and nothing moved this time. */
  replayed: boolean;
  tenant: string;
}

/** Where a delivery stands. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** A stored denial: one of the first few of its kind in its minute, kept whole. */
export interface Denial {
  at: string;
  code: string;
  facts?: Record<string, unknown> | null;
  id: number;
  key_prefix?: string | null;
  method: string;
  /** The request's path, cut to 512 bytes (see `path_truncated`). */
  path: string;
  /** The path was longer than what is kept. */
  path_truncated: boolean;
  request_id: string;
  route?: string | null;
  status: number;
  tenant?: string | null;
}

/** `denial.counts`: every denial, counted per minute, newest first. */
export interface DenialCounts {
  /** Only this code, e.g. INSUFFICIENT_CREDITS. */
  code?: string | null;
  limit?: number | null;
  /** Only minutes at or after this instant (RFC 3339). */
  since?: string | null;
  tenant?: string | null;
}

/** 402 answers of one code on one UTC day. */
export interface DenialDay {
  code: string;
  day: string;
  requests: number;
}

/** `denial.list`: stored denial samples, newest first. */
export interface DenialList {
  before_id?: number | null;
  /** Only this code, e.g. INSUFFICIENT_CREDITS. */
  code?: string | null;
  limit?: number | null;
  tenant?: string | null;
}

/** Denials of one kind in one minute. */
export interface DenialMinute {
  code: string;
  minute: string;
  requests: number;
  route?: string | null;
  status: number;
  /** Absent for requests without a usable key (and for those counted past the cap). */
  tenant?: string | null;
}

/** How the gateway writes charges to the ledger. */
export type Durability = 'batched' | 'strict';

/** Why credits moved. */
export type EntryKind = 'grant' | 'topup' | 'debit' | 'refund' | 'adjustment' | 'expiry';

/** `{code, message, field?}`: the wire shape of a [`ConsoleError`]. */
export interface ErrorBody {
  /** Stable machine code, e.g. `INVALID_INPUT`, `NOT_FOUND`, `SLUG_TAKEN`. */
  code: string;
  /** The input field at fault, for input errors. */
  field?: string | null;
  /** Human message naming the problem. */
  message: string;
}

/** `explain`: why a tenant's calls are served or refused. */
export interface Explain {
  /** Only this route: its path prefix, or a path it matches (e.g. `/v1/search/x`). */
  route?: string | null;
  /** The tenant's slug. */
  tenant: string;
}

/** A tenant as the gateway sees it. */
export interface Explanation {
  /** The instant the answers hold for. */
  at: string;
  /** Credits that may still be spent, as the gateway holds them. */
  balance: number;
  /** Whether the next call would run into the plan's rate limit (transient; not in the answers). */
  over_rate: boolean;
  /** The rate state in words: "no rate limit", "within the rate limit" or "over …". */
  rate: string;
  /** One answer per route, most specific prefix first. */
  routes: RouteExplained[];
  /** The verdict in words, for a badge: e.g. "every call gets 402 SUBSCRIPTION_PAST_DUE". */
  summary: string;
  tenant: string;
  /** `serving` (every route), `refused` (every route), `partly_refused` or `no_routes`. */
  verdict: string;
}

/** What fixes a refusal: the console action to take. */
export type Fix = 'top_up' | 'renew' | 'change_plan' | 'resume' | 'issue_key' | 'create_route';

/** One gateway decision, allowed or denied, as the live monitor shows it. */
export interface GatewayEvent {
  at: string;
  /** The tenant's spendable balance after this request. */
  balance?: number | null;
  /** The denial code (absent when the request was served). */
  code?: string | null;
  /** Credits charged (0 for denials and upstream failures). */
  cost: number;
  /**
   * The facts of a denial (balance, cost, plan, required feature, …), as the JSON
   * object the client got (kept serialized: it is written out twice, never read).
   */
  facts?: Record<string, unknown> | null;
  key_prefix?: string | null;
  /** Time spent in the gateway and the upstream, in microseconds. */
  latency_us: number;
  method: string;
  /**
   * The node that answered, when several share one database and this event came from
   * another one (absent for this node's own).
   */
  node?: string | null;
  path: string;
  request_id: string;
  /** The matched route's path prefix. */
  route?: string | null;
  /** The status the client got. */
  status: number;
  /** Tenant slug, once the key is known. */
  tenant?: string | null;
}

/** One bucket of the window. */
export interface HistoryBucket {
  credits: number;
  /** Refusals per status and code, by status then code; absent when none. */
  denials: CodeCount[];
  /** Requests the upstream answered (upstream failures without a Tollgate code included). */
  served: number;
  start: string;
}

/** How far back `traffic.history` looks. */
export type HistoryWindow = '5m' | '1h' | '24h' | '7d' | '30d';

/** How the records are written. */
export type ImportFormat = 'csv' | 'jsonl';

/** Why one line cannot be imported. */
export interface ImportLineError {
  /** The record's field at fault, when one is. */
  field?: string | null;
  line: number;
  message: string;
}

/** What an import added (or, in a dry run, would add). */
export interface ImportReport {
  /** Lines that cannot be imported (a dry run only: a real import stops at the first). */
  bad_lines: number;
  /** Credits given as opening balances (as top-ups in the ledger). */
  credits: number;
  /** True when nothing was written: the figures and rows are what the import would do. */
  dry_run: boolean;
  /** The first 1000 of those lines, with why. */
  errors: ImportLineError[];
  keys: number;
  /** The first 1000 tenants, in file order (the counts above cover all). */
  rows: ImportedTenant[];
  tenants: number;
}

/** One tenant an import creates. */
export interface ImportedTenant {
  contact_email?: string | null;
  /** Opening balance on top of the plan's first-period grant. */
  credits: number;
  /** The imported key's name, when the line carries a key. */
  key_name?: string | null;
  /** The file's line (the CSV header is line 1). */
  line: number;
  name: string;
  plan: string;
  slug: string;
}

/**
 * A stored setting that is not valid: it is ignored (its default is in force) until a
 * `settings set` replaces it.
 */
export interface InvalidSetting {
  /** The setting's name, e.g. `durability`. */
  key: string;
  /** Why it was refused. */
  message: string;
  /** The stored text, as found. */
  stored: string;
}

/** A freshly issued key with its secret, which is never shown again. */
export interface IssuedKey {
  key: ApiKey;
  /** The whole key to hand to the customer. Tollgate keeps only its hash. */
  secret: string;
}

/** `key.budget`: sets or removes a key's spend cap. */
export interface KeyBudgetSet {
  /** Credits the key may spend per period; absent removes the cap. */
  budget?: number | null;
  /** The key's visible prefix (or the whole key). */
  key: string;
  period?: null | BudgetPeriod;
}

/** `key.issue`. */
export interface KeyIssue {
  /** Credits the key may spend per period (none: only the tenant's balance limits it). */
  budget?: number | null;
  budget_period?: null | BudgetPeriod;
  /** When the key stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z). */
  expires_at?: string | null;
  /** A label for the operator, e.g. "production" (default "default"). */
  name?: string | null;
  /** Scopes, comma-separated on the command line. */
  scopes?: string[];
  tenant: string;
}

/** `key.list`. */
export interface KeyList {
  tenant: string;
}

/** `key.revoke`: the key stops working at once. */
export interface KeyRevoke {
  /** The key's visible prefix (or the whole key). */
  key: string;
  reason?: string | null;
}

/**
 * `key.rotate`: a new key with the same name and scopes; the old one keeps working for
 * the overlap so the customer can switch without downtime.
 */
export interface KeyRotate {
  /** The key's visible prefix (or the whole key). */
  key: string;
  /** Minutes the old key keeps working (0-43200, default 60; 0 revokes it now). */
  overlap_minutes?: number | null;
}

/** One ledger entry as stored. */
export interface LedgerEntry {
  actor: string;
  /** Signed: positive adds credits, negative spends them. */
  amount: number;
  /** The tenant's balance right after this entry. */
  balance_after: number;
  created_at: string;
  id: number;
  /** Repeating a movement with the same key returns the first entry instead of a second one. */
  idempotency_key?: string | null;
  kind: EntryKind;
  /** ISO 4217 code of `paid_minor`. */
  paid_currency?: string | null;
  /**
   * For a top-up: what the customer paid, in minor units of `paid_currency`, when the
   * operator recorded it.
   */
  paid_minor?: number | null;
  reason?: string | null;
  /** The gateway request this entry charges or refunds. */
  request_id?: string | null;
  /**
   * Served requests a usage debit covers (usage is written summed per tenant); 1 for
   * every other entry.
   */
  requests: number;
  tenant_id: number;
}

/** `ledger.list`: a tenant's entries, newest first. */
export interface LedgerList {
  /** Only entries older than this id (for paging). */
  before_id?: number | null;
  /** At most this many entries (1-1000, default 100). */
  limit?: number | null;
  /** The tenant whose entries to list. */
  tenant: string;
}

export type ListOfApiKey = ApiKey[];

export type ListOfAuditEntry = AuditEntry[];

export type ListOfDenial = Denial[];

export type ListOfDenialMinute = DenialMinute[];

export type ListOfLedgerEntry = LedgerEntry[];

export type ListOfNodeStatus = NodeStatus[];

export type ListOfPaymentEvent = PaymentEvent[];

export type ListOfPlan = Plan[];

export type ListOfRoute = Route[];

export type ListOfTenantRow = TenantRow[];

export type ListOfUsageMinute = UsageMinute[];

export type ListOfWebhookDelivery = WebhookDelivery[];

export type ListOfWebhookEndpoint = WebhookEndpoint[];

/** The addresses a running server listens on. */
export interface Listening {
  /** The admin API's address, e.g. `127.0.0.1:8401`. */
  admin_listen: string;
  /** Where the dashboard opens (the admin API's URL; the admin token is not in it). */
  dashboard_url: string;
  /** The gateway's address, e.g. `127.0.0.1:8402`. */
  gateway_listen: string;
  /** The gateway serves HTTPS (HTTP/2 and HTTP/1.1), not plain HTTP. */
  gateway_tls: boolean;
  /**
   * The separate metrics address, when one was given (`metrics_listen`); then
   * `metrics_url` needs no token, else it is the admin API's and needs its token.
   */
  metrics_listen?: string | null;
  /** Where Prometheus scrapes, e.g. `http://127.0.0.1:8401/metrics`. */
  metrics_url: string;
}

/** How a route's calls are charged. */
export type Metering = 'fixed' | 'header' | 'usage';

/** A tenant whose stored balance disagrees with its ledger. */
export interface Mismatch {
  /** `tenants.balance`. */
  balance: number;
  /** `balance_after` of the tenant's newest entry (0 without entries). */
  last_balance_after: number;
  /** The sum of the tenant's ledger amounts. */
  ledger_sum: number;
  tenant: string;
}

/**
 * The price of one model, in credits per million tokens (integers: a credit is the
 * smallest unit, and a million tokens keeps cheap models expressible).
 */
export interface ModelPrice {
  /** Credits per million completion (output) tokens. */
  completion_per_million: number;
  /** The model's name as clients send it (`"model": "gpt-4o-mini"`). */
  model: string;
  /** Credits per million prompt (input) tokens. */
  prompt_per_million: number;
}

/** An amount of one currency. */
export interface MoneyTotal {
  currency: string;
  minor: number;
}

/** One node of the cluster as the console shows it. */
export interface NodeStatus {
  /** Changes in the log newer than the newest it applied. */
  changes_behind: number;
  name: string;
  /** Its last heartbeat. */
  seen_at: string;
  started_at: string;
  /** Heard from within [`HEARTBEAT_GRACE`]. */
  up: boolean;
}

/** What a metered call whose answer did not finish (client gone, stream broken) is charged. */
export type OnCancel = 'nothing' | 'reported';

/** The money view over a window of days. */
export interface Overview {
  /** Tenants worth a look now, the most urgent first (at most 100). */
  at_risk: AtRisk[];
  /** Credits moved per UTC day of the window that had any movement, oldest first. */
  credits: CreditDay[];
  days: number;
  /** 402 answers per UTC day and code, oldest first. */
  denials_402: DenialDay[];
  /** The credits at or below which a balance counts as low (the setting). */
  low_balance_threshold: number;
  /** Monthly recurring revenue of active subscriptions, per currency. */
  mrr: MoneyTotal[];
  /** Plans with subscribers, and every plan not archived. */
  plans: PlanRevenue[];
  /** The window's first instant (00:00 UTC of its first day). */
  since: string;
  /** Every top-up in the window. */
  topup_count: number;
  topup_credits: number;
  /** What was paid for them, per currency (top-ups recorded without a payment are not in it). */
  topup_paid: MoneyTotal[];
  /** Top-ups in the window, newest first (at most 50). */
  topups: TopUpRecord[];
}

/** `overview.show`: the money view. */
export interface OverviewShow {
  /** Days to cover, today included (1-90, default 30), in UTC days. */
  days?: number | null;
}

/** One received event, as recorded. */
export interface PaymentEvent {
  /** Deliveries of this event received (Stripe retries until it gets a 2xx). */
  deliveries: number;
  /** What was done, in words: "topped up 500 credits", or why nothing was. */
  detail: string;
  /** The provider's event id, e.g. `evt_1Q…`: the idempotency key. */
  event_id: string;
  outcome: PaymentOutcome;
  provider: string;
  received_at: string;
  /** The tenant it concerned, when one was found. */
  tenant?: string | null;
  /** e.g. `checkout.session.completed`. */
  type: string;
}

/** `payment.events`: the payment-provider events received, newest first. */
export interface PaymentEventList {
  /** At most this many (default 100, at most 1000). */
  limit?: number | null;
  /** Only events about this tenant (its slug). */
  tenant?: string | null;
}

/** What an event did. */
export type PaymentOutcome = 'applied' | 'ignored' | 'unmatched' | 'failed';

/**
 * A tenant whose stored count of requests this period (what the quota and start-up use)
 * disagrees with the usage its ledger charged since the period began.
 */
export interface PeriodCountMismatch {
  /** The requests the tenant's debits since the period's start cover. */
  ledger: number;
  /** `tenants.period_used`. */
  stored: number;
  tenant: string;
}

/** A plan as stored. */
export interface Plan {
  /** Archived plans keep their tenants but take no new ones. */
  archived: boolean;
  billing_period: BillingPeriod;
  /** Requests allowed in a burst above the sustained rate. */
  burst: number;
  created_at: string;
  /** Credits granted through the ledger at each renewal. */
  credits_per_period: number;
  /** ISO 4217 code. */
  currency: string;
  /** Entitlements a route can require. */
  features: string[];
  /** Days a `past_due` subscription keeps working after its period ends. */
  grace_days: number;
  id: number;
  /** Shown to people, e.g. `Pro`. */
  name: string;
  /** Requests allowed per period regardless of credits; absent means no quota. */
  period_quota?: number | null;
  /** Price per period in minor units of `currency` (cents for USD). */
  price_minor: number;
  /** Sustained requests per second; absent means unlimited. */
  rate_per_second?: number | null;
  /** Stable identifier used everywhere else, e.g. `pro`. */
  slug: string;
  /**
   * Tenants on it whose subscription is trialing, active or past due; counted by
   * `plan.list` only (absent elsewhere).
   */
  subscribers?: number | null;
  updated_at: string;
}

/** `plan.archive`: the plan keeps its tenants but can no longer be chosen. */
export interface PlanArchive {
  /** The plan to archive. */
  plan: string;
}

/** `plan.create`. */
export interface PlanCreate {
  billing_period?: null | BillingPeriod;
  /** Burst size (defaults to the rate). */
  burst?: number | null;
  /** Credits granted each period (default 0). */
  credits_per_period?: number | null;
  /** ISO 4217 currency (default USD). */
  currency?: string | null;
  /** Entitlements, comma-separated on the command line. */
  features?: string[];
  /** Grace days after a failed payment (default 0). */
  grace_days?: number | null;
  /** Display name, e.g. "Pro". */
  name: string;
  /** Requests allowed per period (no quota when absent). */
  period_quota?: number | null;
  /** Price per period in minor units (default 0). */
  price_minor?: number | null;
  /** Sustained requests per second (unlimited when absent). */
  rate_per_second?: number | null;
  /** Identifier; derived from the name when absent. */
  slug?: string | null;
}

/** `plan.list`. */
export interface PlanList {
  /** Include archived plans. */
  include_archived?: boolean;
}

/** One plan's subscribers and what they bring in each month. */
export interface PlanRevenue {
  active: number;
  archived: boolean;
  billing_period: BillingPeriod;
  currency: string;
  /**
   * Active subscriptions × the price normalised to a month (a year is 1/12, a week
   * 52/12, a day 365/12), in minor units, rounded half up.
   */
  mrr_minor: number;
  name: string;
  past_due: number;
  price_minor: number;
  slug: string;
  trialing: number;
}

/** `plan.update`: changes only the fields given. */
export interface PlanUpdate {
  billing_period?: null | BillingPeriod;
  burst?: number | null;
  credits_per_period?: number | null;
  currency?: string | null;
  /** Replaces the entitlements (comma-separated; an empty value clears them). */
  features?: string[] | null;
  grace_days?: number | null;
  name?: string | null;
  /** New quota per period; 0 removes the quota. */
  period_quota?: number | null;
  /** The plan to change. */
  plan: string;
  price_minor?: number | null;
  /** New sustained rate; 0 makes the plan unlimited. */
  rate_per_second?: number | null;
}

/**
 * `credits.refund`: give back credits the gateway charged for one request. The request
 * must be a charge (a `debit` entry) of this tenant, and all refunds against it together
 * cannot exceed what it cost.
 */
export interface Refund {
  /** Credits to give back (positive; at most what is left of the charge). */
  amount: number;
  idempotency_key: string;
  reason?: string | null;
  /** The gateway request whose charge is refunded (its `X-Request-Id`, as in the ledger). */
  request_id: string;
  tenant: string;
}

/**
 * A served request whose debit the ledger refused: memory spent credits the database
 * did not have. Each one needs the operator's look.
 */
export interface RefusedDebit {
  amount: number;
  at: string;
  reason: string;
  request_id?: string | null;
  requests: number;
  tenant: string;
}

/**
 * `subscription.renew`: opens the next period (from the end of the current one, or from
 * now if that has passed), makes the subscription active and grants the plan's credits.
 *
 * Once per period: it acts when the subscription is due, that is when its period has
 * ended or it is not active (trialing, past_due, canceled, expired). On an active
 * subscription whose period still runs it changes nothing and answers the subscription as
 * it is, so a retried or double-clicked renewal never opens a second period nor grants
 * the credits twice.
 */
export interface Renew {
  reason?: string | null;
  tenant: string;
}

/**
 * `request.show`: was a request served, to whom, for how much and when; or why it was
 * refused.
 */
export interface RequestShow {
  /** The request id, e.g. req_5f3a9c1e_000000000017. */
  request_id: string;
}

/** One request as the log kept it. */
export interface RequestShown {
  at: string;
  /** The denial or failure code, for a refusal. */
  code?: string | null;
  /** Credits charged. */
  cost: number;
  denial?: null | Denial;
  key_prefix?: string | null;
  latency_us: number;
  /** What the code means. */
  meaning?: string | null;
  method: string;
  /**
   * `served` (the upstream answered below 500), `refused` (Tollgate answered with a
   * code) or `failed` (the upstream answered 500 or more).
   */
  outcome: string;
  request_id: string;
  /** The matched route's path prefix. */
  route?: string | null;
  /** The status the client got. */
  status: number;
  /** Tenant slug, once the key was known. */
  tenant?: string | null;
}

/** Why a tenant is at risk. */
export type Risk = 'past_due' | 'low_balance' | 'many_402s' | 'period_ending_soon';

/** A rotation's result: the new key (with its secret) and the old one with its new expiry. */
export interface RotatedKey {
  issued: IssuedKey;
  replaced: ApiKey;
}

/** A route as stored. */
export interface Route {
  /**
   * The answer header carrying a `header`-metered call's charge (whole credits); the
   * client never sees it.
   */
  charge_header?: string | null;
  /** Credits charged per successful call. */
  cost: number;
  created_at: string;
  id: number;
  /** Client addresses (CIDR blocks) this route answers; empty: every address not denied. */
  ip_allow: string[];
  /** Client addresses (CIDR blocks) refused with 403 `IP_NOT_ALLOWED`; wins over `ip_allow`. */
  ip_deny: string[];
  /** A metered route's ceiling: the most one call is held and charged. */
  max_cost?: number | null;
  /**
   * How a call is charged: `fixed` (`cost`), or what the upstream reports (`header`,
   * `usage`), reserved up to `max_cost` before forwarding.
   */
  metering: Metering;
  /** Methods this route answers; empty means every method. */
  methods: string[];
  /** What a metered call whose answer broke off is charged. */
  on_cancel: OnCancel;
  /** Requests whose path starts with this (the longest match wins), e.g. `/v1/search`. */
  path_prefix: string;
  /**
   * A call without a key that pays for itself (x402, a Payment credential) is served and
   * charged to this tenant (by id); none: a call without a key gets 401.
   */
  pay_per_call_tenant_id?: number | null;
  /** The plan feature a tenant needs (402 `FEATURE_NOT_IN_PLAN` otherwise). */
  required_feature?: string | null;
  /** The key scope a caller needs (403 `SCOPE_NOT_GRANTED` otherwise). */
  required_scope?: string | null;
  updated_at: string;
  /**
   * For an `https://` upstream signed by a private CA: that CA's certificates (PEM),
   * trusted for this route instead of the system's store.
   */
  upstream_ca?: string | null;
  /** Where matching requests go, e.g. `http://127.0.0.1:9000` or `https://api.example.com`. */
  upstream_url: string;
}

/** `route.create`. */
export interface RouteCreate {
  /** The answer header with a `header`-metered call's charge (default `Tollgate-Charge`). */
  charge_header?: string | null;
  /** Credits per call (default 1). */
  cost?: number | null;
  /**
   * Client addresses allowed, CIDR blocks or addresses, comma-separated (at most 256);
   * none: every address not denied.
   */
  ip_allow?: string[];
  /**
   * Client addresses refused (403 `IP_NOT_ALLOWED`), CIDR blocks or addresses; wins over
   * `ip_allow`.
   */
  ip_deny?: string[];
  /** The most one call on a metered route is held and charged (required when metered). */
  max_cost?: number | null;
  metering?: null | Metering;
  /** Methods, comma-separated; none means all. */
  methods?: string[];
  on_cancel?: null | OnCancel;
  /** Path prefix starting with `/`. */
  path_prefix: string;
  /**
   * A tenant's slug: calls without a key that pay for themselves (x402) are served and
   * charged to it. Needs machine payments configured.
   */
  pay_per_call?: string | null;
  required_feature?: string | null;
  required_scope?: string | null;
  /**
   * The private CA an `https://` upstream's certificate chains to, as PEM (the CLI takes
   * a file: `--upstream-ca ca.pem`).
   */
  upstream_ca?: string | null;
  /**
   * Upstream base URL, `http://` or `https://` (verified against the system's trust
   * store, or `upstream_ca`).
   */
  upstream_url: string;
}

/** `route.delete`. */
export interface RouteDelete {
  id: number;
}

/** The gateway's answer on one route. */
export interface RouteExplained {
  /** The answer in words, e.g. "every call gets 402 SUBSCRIPTION_PAST_DUE: …". */
  answer: string;
  /** The denial code, when refused. */
  code?: string | null;
  fix?: null | Fix;
  /** The fix in words, e.g. "top up at least 5 credits". */
  fix_hint?: string | null;
  /** The tenant's key the answer is for (the one that gets furthest); none when it has none. */
  key_prefix?: string | null;
  /** The method of the representative call (the route's first, or `GET`). */
  method: string;
  /** The route's path prefix. */
  route: string;
  /** The status a call gets: 200 when it goes upstream (the upstream may answer otherwise). */
  status: number;
}

/** `route.list`. */
export type RouteList = Record<string, unknown>;

/** `route.update`: changes only the fields given; an empty feature or scope clears it. */
export interface RouteUpdate {
  /** The answer header with a `header`-metered call's charge. */
  charge_header?: string | null;
  cost?: number | null;
  id: number;
  /**
   * Replaces the allowed client addresses (CIDR blocks or addresses, comma-separated);
   * empty clears the list.
   */
  ip_allow?: string[] | null;
  /** Replaces the refused client addresses; empty clears the list. */
  ip_deny?: string[] | null;
  /** The most one call on a metered route is held and charged. */
  max_cost?: number | null;
  metering?: null | Metering;
  methods?: string[] | null;
  on_cancel?: null | OnCancel;
  path_prefix?: string | null;
  /** A tenant's slug for calls without a key that pay for themselves; empty turns it off. */
  pay_per_call?: string | null;
  required_feature?: string | null;
  required_scope?: string | null;
  /** A private CA for an `https://` upstream (PEM; the CLI takes a file); empty clears it. */
  upstream_ca?: string | null;
  upstream_url?: string | null;
}

/**
 * `subscription.set-status`: record what the payment provider says (e.g. a failed payment
 * makes it `past_due`, which starts the plan's grace period now).
 */
export interface SetStatus {
  reason?: string | null;
  status: SubscriptionStatus;
  tenant: string;
}

/** All settings, with defaults for what the operator has not set. */
export interface Settings {
  /** Address the admin API listens on (loopback unless you mean otherwise). */
  admin_listen: string;
  /** Where a tenant pays; `{tenant}` is replaced by the tenant's slug. */
  billing_link_template: string;
  /**
   * Closing the desktop window keeps the gateway running in the tray (quit from the
   * tray menu); off, closing the window quits.
   */
  close_to_tray: boolean;
  /**
   * Denials within a minute that count as a spike worth a desktop notification;
   * 0 turns those notifications off.
   */
  denial_spike_per_minute: number;
  durability: Durability;
  /** Address the gateway listens on. */
  gateway_listen: string;
  /**
   * The gateway's certificate chain (PEM file, absolute path); with
   * `gateway_tls_key`, the gateway serves HTTPS with HTTP/2 and HTTP/1.1 (from the next
   * start). Empty: plain HTTP.
   */
  gateway_tls_cert: string;
  /** The private key of `gateway_tls_cert` (PEM file, absolute path). */
  gateway_tls_key: string;
  /**
   * Credits at or below which a tenant is flagged as running low (dashboard marker,
   * desktop notification), so the operator can reach out before traffic stops.
   */
  low_balance_threshold: number;
  /**
   * Address serving Prometheus metrics at `/metrics` without a token; empty: only on
   * the admin API, behind its token.
   */
  metrics_listen: string;
  /** What each model costs on routes metered by `usage`, in credits per million tokens. */
  model_prices: ModelPrice[];
  /**
   * The secret binding the `id` of Payment challenges (HMAC-SHA256); empty: a random one
   * per process (nodes sharing a database need the same one set here).
   */
  payment_challenge_secret: string;
  /** Percent added to every usage price (0–1000), e.g. 20 sells at 1.2× the table. */
  price_markup_percent: number;
  /** Base URI of the `type` member of problem responses; the code is appended. */
  problem_type_base: string;
  /** Days denials and the per-request charges of `strict` requests are kept. */
  retention_days: number;
  /**
   * The signing secret (`whsec_…`) of the Stripe webhook endpoint the gateway serves at
   * `/_tollgate/stripe`; empty: the endpoint is off.
   */
  stripe_webhook_secret: string;
  /**
   * Proxies (CIDR blocks) whose `X-Forwarded-For` the gateway believes, e.g. the load
   * balancer in front of it; empty: the TCP peer is the client.
   */
  trusted_proxies: string[];
  /** How long the gateway waits for the upstream's response headers before a 504. */
  upstream_timeout_ms: number;
  /**
   * How often usage reaches the ledger (one entry per tenant): in `batched` durability
   * the charges summed in memory (the most usage a crash can lose); in `strict` (SQLite)
   * the charges already committed to the usage journal.
   */
  usage_flush_ms: number;
  /** x402: the EIP-3009 token contract paid in (e.g. USDC's address on that network). */
  x402_asset: string;
  /** x402: the token's EIP-712 domain name and version (`USD Coin` and `2` for USDC on Base). */
  x402_asset_name: string;
  x402_asset_version: string;
  /**
   * x402: credits one atomic unit of the asset buys (USDC has 6 decimals: 1 unit is
   * 0.000001 USDC).
   */
  x402_credits_per_unit: number;
  /** x402: the facilitator that verifies and settles payments (`…/verify`, `…/settle`). */
  x402_facilitator_url: string;
  /** x402: seconds a signed payment stays valid. */
  x402_max_timeout_seconds: number;
  /**
   * x402: the CAIP-2 network payments are taken on (e.g. `eip155:8453`); empty: x402 and
   * the Payment challenge are off.
   */
  x402_network: string;
  /** x402: the address payments go to. */
  x402_pay_to: string;
  /** x402: the top-ups offered in a 402, in credits (the smallest that covers the call first). */
  x402_top_ups: number[];
}

/** `settings.get`. */
export type SettingsGet = Record<string, unknown>;

/**
 * What `settings.get` and `settings.set` answer: the settings in force and any stored
 * value that was refused (each falls back to its default alone; the others still apply).
 */
export type SettingsReport = Settings & {
  /** Stored values that are not valid, in force as their defaults until set again. */
  invalid: InvalidSetting[];
  listening?: null | Listening;
};

/** `settings.set`: changes only the settings given. */
export interface SettingsSet {
  /** IP address and port the admin API listens on (after a restart), e.g. 127.0.0.1:8401. */
  admin_listen?: string | null;
  /** Where a tenant pays, an http(s) URL; `{tenant}` is replaced by the tenant's slug. */
  billing_link_template?: string | null;
  /** Closing the desktop window keeps the gateway running in the tray. */
  close_to_tray?: boolean | null;
  /** Denials within a minute that bring a desktop notification, 0 (off) to 1000000. */
  denial_spike_per_minute?: number | null;
  durability?: null | Durability;
  /** IP address and port the gateway listens on (after a restart), e.g. 127.0.0.1:8402. */
  gateway_listen?: string | null;
  /**
   * The gateway's certificate chain, a PEM file's absolute path (from the next start;
   * give `gateway_tls_key` too); empty turns HTTPS off.
   */
  gateway_tls_cert?: string | null;
  /** The certificate's private key, a PEM file's absolute path; empty turns HTTPS off. */
  gateway_tls_key?: string | null;
  /** Credits at or below which a tenant is flagged as running low (0 or more). */
  low_balance_threshold?: number | null;
  /**
   * IP address and port serving Prometheus metrics without a token (after a restart),
   * e.g. 127.0.0.1:9464; empty: only on the admin API, behind its token.
   */
  metrics_listen?: string | null;
  /**
   * Replaces the price table of usage-metered routes: `model=PROMPT:COMPLETION` in
   * credits per million tokens, repeated (`--model-price gpt-4o-mini=150:600`).
   */
  model_prices?: ModelPrice[] | null;
  /** The secret binding Payment challenges (at least 32 characters); empty: random per process. */
  payment_challenge_secret?: string | null;
  /** Percent added to every usage price, 0–1000. */
  price_markup_percent?: number | null;
  /** Base URI of the `type` member of problem responses, an http(s) URL. */
  problem_type_base?: string | null;
  /** Days denials and strict requests' charges are kept, 1-3650. */
  retention_days?: number | null;
  /**
   * The Stripe webhook endpoint's signing secret (`whsec_…`, from Stripe's dashboard);
   * empty turns the endpoint off.
   */
  stripe_webhook_secret?: string | null;
  /**
   * Proxies whose `X-Forwarded-For` is believed (the load balancer in front of the
   * gateway): CIDR blocks or addresses, comma-separated, at most 256; empty clears.
   */
  trusted_proxies?: string[] | null;
  /** Milliseconds to wait for the upstream's response headers before a 504, 100-600000. */
  upstream_timeout_ms?: number | null;
  /**
   * Milliseconds between writes of usage to the ledger, 10-60000: of `batched` usage, the
   * most a crash can lose (in the tenant's favour); of `strict`, its folds of the journal.
   */
  usage_flush_ms?: number | null;
  /** x402: the token contract paid in (0x…). */
  x402_asset?: string | null;
  /** x402: the token's EIP-712 domain name (USDC on Base: "USD Coin"). */
  x402_asset_name?: string | null;
  /** x402: the token's EIP-712 domain version (USDC: "2"). */
  x402_asset_version?: string | null;
  /** x402: credits one atomic unit of the asset buys, 1–1000000000. */
  x402_credits_per_unit?: number | null;
  /** x402: the facilitator's URL (it answers /verify and /settle). */
  x402_facilitator_url?: string | null;
  /** x402: seconds a signed payment stays valid, 10–3600. */
  x402_max_timeout_seconds?: number | null;
  /** x402: the CAIP-2 network, e.g. eip155:8453; empty turns x402 and Payment challenges off. */
  x402_network?: string | null;
  /** x402: the address payments go to (0x…). */
  x402_pay_to?: string | null;
  /** x402: the top-ups offered, in credits, comma-separated (at most 8). */
  x402_top_ups?: number[] | null;
}

/** Whether a tenant may use the API at all, apart from its subscription. */
export type Standing = 'active' | 'suspended' | 'blocked';

/** `storage.status`: whether the database accepts writes right now. */
export type StorageShow = Record<string, unknown>;

/** Whether the database accepts writes, as the dashboard, the tray and the log show it. */
export interface StorageStatus {
  /** The database's own words for the last failure (e.g. `database or disk is full`). */
  error?: string | null;
  /** True from the first failed write until a write succeeds again. */
  failing: boolean;
  /** When the current failure began. */
  since?: string | null;
}

/** A tenant's subscription as stored, with its plan's slug. */
export interface Subscription {
  /** Until when a `past_due` subscription keeps working. */
  grace_until?: string | null;
  id: number;
  period_end: string;
  period_start: string;
  /** The plan's slug. */
  plan: string;
  plan_id: number;
  status: SubscriptionStatus;
  tenant_id: number;
  updated_at: string;
}

/** Where a subscription stands in the billing cycle. */
export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'canceled' | 'expired';

/** A tenant as stored. */
export interface Tenant {
  /** Current credits; always equal to the sum of the tenant's ledger. */
  balance: number;
  /** Where this tenant pays; overrides the settings' template when set. */
  billing_link?: string | null;
  contact_email?: string | null;
  created_at: string;
  id: number;
  /**
   * Client addresses (CIDR blocks) the tenant's keys work from; empty: every address
   * not denied.
   */
  ip_allow: string[];
  /** Client addresses (CIDR blocks) refused with 403 `IP_NOT_ALLOWED`; wins over `ip_allow`. */
  ip_deny: string[];
  name: string;
  slug: string;
  standing: Standing;
  /** The tenant's customer id at Stripe (`cus_…`): Stripe events naming it apply here. */
  stripe_customer?: string | null;
  updated_at: string;
}

export interface TenantBlock {
  /** Why, for the audit log. */
  reason?: string | null;
  tenant: string;
}

/** `tenant.create`: a tenant on a plan, with the plan's first-period credits granted. */
export interface TenantCreate {
  /** Overrides the billing link template for this tenant. */
  billing_link?: string | null;
  contact_email?: string | null;
  /**
   * Client addresses the tenant's keys work from, CIDR blocks or addresses,
   * comma-separated (at most 256); none: every address not denied.
   */
  ip_allow?: string[];
  /** Client addresses refused (403 `IP_NOT_ALLOWED`); wins over `ip_allow`. */
  ip_deny?: string[];
  /** Display name; the slug is derived from it unless given. */
  name: string;
  /** The plan to start on. */
  plan: string;
  slug?: string | null;
  /** Start with a trial of this many days instead of a paid period. */
  trial_days?: number | null;
}

/** A tenant's refusals over the window. */
export interface TenantDenials {
  requests: number;
  tenant: string;
}

/** Everything the operator needs to see about one tenant. */
export interface TenantDetail {
  /** Where this tenant pays: its own link, or the settings' template filled in. */
  billing_link: string;
  keys: ApiKey[];
  plan: Plan;
  subscription: Subscription;
  tenant: Tenant;
  /**
   * Credits of `strict` usage committed to the journal (SQLite) and not yet folded into
   * the ledger, which the next usage write does: spent from the balance, not yet in the
   * newest entry's `balance_after`. Always 0 on PostgreSQL.
   */
  unfolded_strict_credits?: number;
}

/** `tenant.import`. */
export interface TenantImport {
  /** The file's contents (on the command line: `--data "$(cat tenants.csv)"`). */
  data: string;
  /** Check every line and report what would be created (and each bad line), creating nothing. */
  dry_run?: boolean;
  format: ImportFormat;
}

/** `tenant.list`. */
export interface TenantList {
  /** Only tenants whose slug, name or e-mail contains this text. */
  search?: string | null;
}

export interface TenantResume {
  /** Why, for the audit log. */
  reason?: string | null;
  tenant: string;
}

/** One line of the tenant list. */
export interface TenantRow {
  balance: number;
  contact_email?: string | null;
  /** Denials in the last 24 hours: who is hitting the gate most. */
  denials_24h: number;
  name: string;
  period_end: string;
  plan: string;
  slug: string;
  standing: Standing;
  status: SubscriptionStatus;
}

/** `tenant.show`. */
export interface TenantShow {
  tenant: string;
}

export interface TenantSuspend {
  /** Why, for the audit log. */
  reason?: string | null;
  tenant: string;
}

/**
 * `tenant.update`: name, contact, billing link and address rules. An empty value clears
 * an optional field or a list.
 */
export interface TenantUpdate {
  billing_link?: string | null;
  contact_email?: string | null;
  /**
   * Replaces the allowed client addresses (CIDR blocks or addresses, comma-separated);
   * empty clears the list.
   */
  ip_allow?: string[] | null;
  /** Replaces the refused client addresses; empty clears the list. */
  ip_deny?: string[] | null;
  name?: string | null;
  /** The tenant's Stripe customer id (`cus_…`); empty clears it. */
  stripe_customer?: string | null;
  tenant: string;
}

/** `credits.topup`: add credits the customer paid for. */
export interface TopUp {
  /** Credits to add (positive). */
  amount: number;
  /** Unique per top-up; repeating it returns the first result. */
  idempotency_key: string;
  /** Why, for the audit log. */
  note?: string | null;
  /**
   * What the customer paid, in minor units of the tenant's plan currency (4900 = 49.00
   * USD); kept with the entry for the overview's revenue.
   */
  paid_minor?: number | null;
  tenant: string;
}

/** One top-up. */
export interface TopUpRecord {
  actor: string;
  at: string;
  credits: number;
  note?: string | null;
  paid_currency?: string | null;
  paid_minor?: number | null;
  tenant: string;
}

/** Served requests and refusals over a window, in buckets, with their totals. */
export interface TrafficHistory {
  /**
   * The cut-off: every decision recorded before it is counted here, none after it.
   * A live event belongs after it when its `at` plus its latency is later.
   */
  as_of: string;
  bucket_seconds: number;
  /** Every bucket of the window, oldest first (the last one holds `as_of`). */
  buckets: HistoryBucket[];
  credits: number;
  /** Refusals per status and code over the window. */
  denials: CodeCount[];
  /** The start of the first bucket. */
  from: string;
  served: number;
  tenant?: string | null;
  /** The tenants refused most over the window, most first (at most 10; empty for one tenant). */
  top_tenants: TenantDenials[];
  window: HistoryWindow;
}

/** `traffic.history`: what the gateway served and refused over a window. */
export interface TrafficHistoryShow {
  /** Only this tenant's traffic. */
  tenant?: string | null;
  /** How far back: 5m, 1h, 24h, 7d or 30d (buckets of 1 min up to 6 h). */
  window?: HistoryWindow;
}

/** Counters of the traffic log since the process started. */
export interface TrafficStats {
  /** Denials counted without their tenant and route (too many distinct ones in a minute). */
  denials_unattributed: number;
  /** The most that may wait; past it samples are dropped. */
  sample_limit: number;
  /** Of those, dropped because the buffer was full (storage slow or failing). */
  samples_dropped: number;
  /** The most ever waiting at once. */
  samples_peak_pending: number;
  /** Waiting to be written. */
  samples_pending: number;
  /** Of those, written to the database. */
  samples_stored: number;
  /** Denials chosen to be kept whole. */
  samples_taken: number;
}

/** What the traffic and request logs kept and dropped since this server started. */
export interface TrafficStatus {
  /** Requests the request log holds (the last this many). */
  request_log_capacity: number;
  /** Request records dropped because the log's writer fell behind. */
  request_log_dropped: number;
  request_log_written: number;
  /** False when no gateway runs in this process (the CLI without a server): all zero. */
  running: boolean;
  traffic: TrafficStats;
}

/** `traffic.status`: what the gateway's logs kept and dropped. */
export type TrafficStatusShow = Record<string, unknown>;

/** `usage.list`: served traffic per minute, newest first. */
export interface UsageList {
  limit?: number | null;
  /** Only minutes at or after this instant (RFC 3339). */
  since?: string | null;
  tenant?: string | null;
}

/** Served traffic of one tenant on one route in one minute. */
export interface UsageMinute {
  credits: number;
  minute: string;
  requests: number;
  route: string;
  tenant: string;
}

/** `verify`. */
export type Verify = Record<string, unknown>;

/** The outcome of `verify`. */
export interface VerifyReport {
  /**
   * Things in the gateway's memory (keys, tenants, plans, routes, settings) this check
   * found different from the database, and repaired; should be 0. Absent when no
   * gateway runs in this process, or console writes kept it from comparing.
   */
  drift?: number | null;
  entries_checked: number;
  /**
   * Nodes' credit leases whose recorded use differs from their debits (PostgreSQL, where
   * nodes share the database; always empty on SQLite).
   */
  leases_off: number[];
  mismatches: Mismatch[];
  /**
   * True when every tenant's balance equals the sum of its ledger, so does its period's
   * request count, the ledger refused no debit, and the gateway's memory had not
   * drifted from the database.
   */
  ok: boolean;
  /** Tenants whose stored period count disagrees with their ledger. */
  period_count_mismatches: PeriodCountMismatch[];
  /** Debits of served requests the ledger refused (newest first, at most 100). */
  refused_debits: RefusedDebit[];
  tenants_checked: number;
  unfolded_strict_credits: number;
  /**
   * Strict usage committed durably to the journal and not yet in the ledger (it is not
   * in the balances either): a running gateway folds it within one usage flush interval,
   * and `serve` folds what a crash left before it loads balances.
   */
  unfolded_strict_requests: number;
}

/** One attempt to deliver. */
export interface WebhookAttempt {
  at: string;
  duration_ms: number;
  error?: string | null;
  status?: number | null;
}

/** `webhook.create`: an endpoint for some event types; answers its signing secret once. */
export interface WebhookCreate {
  /**
   * Event types, comma-separated: balance.low, balance.depleted, denials.spike,
   * credits.topped_up, key.issued, key.revoked, key.rotated, subscription.past_due,
   * subscription.canceled, subscription.renewed.
   */
  events: string[];
  /** Where events are POSTed, an http(s) URL. */
  url: string;
}

/** `webhook.delete`: removes an endpoint and its deliveries. */
export interface WebhookDelete {
  /** The endpoint's id, as `tollgate webhook list` shows it. */
  id: number;
}

/** `webhook.deliveries`: recent deliveries, newest first, each with its attempts. */
export interface WebhookDeliveries {
  /** Only this endpoint's. */
  endpoint?: number | null;
  /** At most this many (default 50, at most 500). */
  limit?: number | null;
}

/** One event for one endpoint, with its attempts. */
export interface WebhookDelivery {
  attempts: number;
  created_at: string;
  endpoint_id: number;
  event_type: string;
  id: number;
  last_error?: string | null;
  /** The endpoint's HTTP status on the last attempt (none: it did not answer). */
  last_status?: number | null;
  /** The `webhook-id` header: the same on every attempt, so a receiver can deduplicate. */
  message_id: string;
  next_attempt_at?: string | null;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  tries: WebhookAttempt[];
}

/** A registered endpoint (its secret is shown once, when created). */
export interface WebhookEndpoint {
  created_at: string;
  /** The event types it receives. */
  events: string[];
  id: number;
  url: string;
}

/** `webhook.list`: the registered endpoints. */
export type WebhookList = Record<string, unknown>;

/** `webhook.resend`: sends a delivery again now (with a fresh round of retries). */
export interface WebhookResend {
  /** The delivery's id, as `tollgate webhook deliveries` shows it. */
  delivery: number;
}

/** Everything the event stream carries: gateway decisions and console changes. */
export type Event = ({ type: 'gateway' } & GatewayEvent) | ({ type: 'console' } & AuditEntry) | ({ type: 'storage' } & StorageStatus);

/** Every console command: its input and output types, by name. */
export interface Commands {
  'plan.create': { input: PlanCreate; output: Plan };
  'plan.update': { input: PlanUpdate; output: Plan };
  'plan.archive': { input: PlanArchive; output: Plan };
  'plan.list': { input: PlanList; output: ListOfPlan };
  'tenant.create': { input: TenantCreate; output: TenantDetail };
  'tenant.update': { input: TenantUpdate; output: Tenant };
  'tenant.suspend': { input: TenantSuspend; output: Tenant };
  'tenant.resume': { input: TenantResume; output: Tenant };
  'tenant.block': { input: TenantBlock; output: Tenant };
  'tenant.list': { input: TenantList; output: ListOfTenantRow };
  'tenant.show': { input: TenantShow; output: TenantDetail };
  'tenant.import': { input: TenantImport; output: ImportReport };
  'subscription.change-plan': { input: ChangePlan; output: Subscription };
  'subscription.set-status': { input: SetStatus; output: Subscription };
  'subscription.renew': { input: Renew; output: Subscription };
  'key.issue': { input: KeyIssue; output: IssuedKey };
  'key.revoke': { input: KeyRevoke; output: ApiKey };
  'key.rotate': { input: KeyRotate; output: RotatedKey };
  'key.budget': { input: KeyBudgetSet; output: ApiKey };
  'key.list': { input: KeyList; output: ListOfApiKey };
  'credits.topup': { input: TopUp; output: CreditMovement };
  'credits.adjust': { input: Adjust; output: CreditMovement };
  'credits.refund': { input: Refund; output: CreditMovement };
  'route.create': { input: RouteCreate; output: Route };
  'route.update': { input: RouteUpdate; output: Route };
  'route.delete': { input: RouteDelete; output: Route };
  'route.list': { input: RouteList; output: ListOfRoute };
  'ledger.list': { input: LedgerList; output: ListOfLedgerEntry };
  'charge.show': { input: ChargeShow; output: ChargedRequest };
  'audit.list': { input: AuditList; output: ListOfAuditEntry };
  'settings.get': { input: SettingsGet; output: SettingsReport };
  'settings.set': { input: SettingsSet; output: SettingsReport };
  'verify': { input: Verify; output: VerifyReport };
  'storage.status': { input: StorageShow; output: StorageStatus };
  'cluster.nodes': { input: ClusterNodes; output: ListOfNodeStatus };
  'denial.list': { input: DenialList; output: ListOfDenial };
  'denial.counts': { input: DenialCounts; output: ListOfDenialMinute };
  'usage.list': { input: UsageList; output: ListOfUsageMinute };
  'traffic.status': { input: TrafficStatusShow; output: TrafficStatus };
  'traffic.history': { input: TrafficHistoryShow; output: TrafficHistory };
  'request.show': { input: RequestShow; output: RequestShown };
  'explain': { input: Explain; output: Explanation };
  'overview.show': { input: OverviewShow; output: Overview };
  'payment.events': { input: PaymentEventList; output: ListOfPaymentEvent };
  'webhook.create': { input: WebhookCreate; output: CreatedWebhook };
  'webhook.list': { input: WebhookList; output: ListOfWebhookEndpoint };
  'webhook.delete': { input: WebhookDelete; output: WebhookEndpoint };
  'webhook.deliveries': { input: WebhookDeliveries; output: ListOfWebhookDelivery };
  'webhook.resend': { input: WebhookResend; output: WebhookDelivery };
}
