import * as path from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';

/** Where this CDK project lives; relative context paths are resolved against it, not the cwd. */
export const CDK_ROOT = path.resolve(__dirname, '..');

export const STAGES = ['dev', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

/** Everything the stack reads from context (`-c key=value` or cdk.json), parsed once. */
export interface TaskstreamConfig {
  readonly stage: Stage;
  /** `<assetDir>/<handler>/bootstrap` is each function's code (what `cargo lambda build` writes). */
  readonly assetDir: string;
  readonly routingFile: string;
  /**
   * The workspace's handler crates, `<handlersDir>/<name>/Cargo.toml`: a routed consumer is
   * deployed only when its crate is there.
   */
  readonly handlersDir: string;
  readonly stateMachinesDir: string;
  /** The schema registry documents (`taskstream schema export --format eventbridge`). */
  readonly registryDir: string;
  /**
   * Which tenant each internal service's bus source writes to through the ingest
   * (`source[@account]=tenant`, comma-separated); the task-ingest handler refuses every other
   * source's commands to its DLQ.
   */
  readonly ingestSources: readonly IngestSource[];
  readonly deletionProtection: boolean;
  readonly archiveRetentionDays: number;
  readonly timestreamMemoryRetentionHours: number;
  readonly timestreamMagneticRetentionDays: number;
  /**
   * Where the metrics consumer writes its records: `timestream` (the Timestream table), or
   * `none` (no store: the records go to CloudWatch as EMF, and the stack creates no Timestream
   * resources, so it deploys on accounts Timestream for LiveAnalytics no longer admits).
   */
  readonly metricsSink: MetricsSink;
  /** The verified SES sender of the notifier. */
  readonly senderEmail: string;
  /** Optional address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /**
   * Index partitions per tenant for each task list (see shared/aws/src/dynamo/README.md):
   * what a tenant's task writes may reach per second grows with it. Raise it, never lower it.
   */
  readonly taskShards: number;
  /** The tenants that may call the API, each with its own API key and throttle. */
  readonly tenants: readonly TenantLimits[];
  /** Requests from one IP address per five minutes before the firewall blocks it. */
  readonly ipRequestsPer5Minutes: number;
  /** How long the presigned link to a CSV export works, in seconds (1 to 3600). */
  readonly exportLinkSeconds: number;
  /** Stateful resources of prod outlive the stack; dev ones are torn down with it. */
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: RetentionDays;
}

export const METRICS_SINKS = ['timestream', 'none'] as const;
export type MetricsSink = (typeof METRICS_SINKS)[number];

/** One tenant's API throttle: sustained requests per second and the burst above it. */
export interface TenantLimits {
  readonly tenant: string;
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** A publishing service's bus source, optionally bound to one account, and its tenant. */
export interface IngestSource {
  readonly source: string;
  readonly account?: string;
  readonly tenant: string;
}

/** What a tenant's key allows unless `tenants` says otherwise for it. */
export const DEFAULT_TENANT_RATE_LIMIT = 100;
export const DEFAULT_TENANT_BURST_LIMIT = 200;
/** The firewall's backstop per client address, far above what one tenant's keys allow. */
export const DEFAULT_IP_REQUESTS_PER_5_MINUTES = 60_000;
export const DEFAULT_TASK_SHARDS = 8;
/** Long enough to start a download, short enough that a leaked link soon stops working. */
export const DEFAULT_EXPORT_LINK_SECONDS = 300;
/** Tenants end up inside table keys and API key names: the plain names the API accepts. */
const TENANT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Per-stage defaults; any of them can be overridden by a context key of the same name. */
const STAGE_DEFAULTS: Record<Stage, {
  deletionProtection: boolean;
  archiveRetentionDays: number;
  timestreamMemoryRetentionHours: number;
  timestreamMagneticRetentionDays: number;
  removalPolicy: RemovalPolicy;
  logRetention: RetentionDays;
}> = {
  dev: {
    deletionProtection: false,
    archiveRetentionDays: 30,
    timestreamMemoryRetentionHours: 24,
    timestreamMagneticRetentionDays: 30,
    removalPolicy: RemovalPolicy.DESTROY,
    logRetention: RetentionDays.ONE_MONTH,
  },
  prod: {
    deletionProtection: true,
    archiveRetentionDays: 365,
    timestreamMemoryRetentionHours: 72,
    timestreamMagneticRetentionDays: 730,
    removalPolicy: RemovalPolicy.RETAIN,
    logRetention: RetentionDays.ONE_YEAR,
  },
};

export function readConfig(node: Node): TaskstreamConfig {
  const stage = readStage(node.tryGetContext('stage'));
  const defaults = STAGE_DEFAULTS[stage];
  const senderEmail = readString(node, 'senderEmail');
  if (senderEmail === undefined) {
    throw new Error(
      'context "senderEmail" is required: the notifier sends mail from this SES identity ' +
        '(e.g. -c senderEmail=tasks@example.com)',
    );
  }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(senderEmail)) {
    throw new Error(`context "senderEmail" must be an email address, got "${senderEmail}"`);
  }
  const alarmEmail = readString(node, 'alarmEmail');
  const rateLimit = readInteger(node, 'tenantRateLimit', 1, 10_000) ?? DEFAULT_TENANT_RATE_LIMIT;
  const burstLimit = readInteger(node, 'tenantBurstLimit', 1, 5_000) ?? DEFAULT_TENANT_BURST_LIMIT;
  return {
    stage,
    assetDir: readPath(node, 'assetDir', '../target/lambda'),
    routingFile: readPath(node, 'routingFile', '../events-schema/routing.json'),
    handlersDir: readPath(node, 'handlersDir', '../handlers'),
    stateMachinesDir: readPath(node, 'stateMachinesDir', '../state-machines'),
    registryDir: readPath(node, 'registryDir', '../events-schema/registry'),
    ingestSources: readIngestSources(readString(node, 'ingestSources')),
    deletionProtection: readBoolean(node, 'deletionProtection') ?? defaults.deletionProtection,
    archiveRetentionDays: readInteger(node, 'archiveRetentionDays', 1, 36500) ?? defaults.archiveRetentionDays,
    // Timestream's own bounds: memory store 1 h to 1 year, magnetic store 1 day to 200 years.
    timestreamMemoryRetentionHours:
      readInteger(node, 'timestreamMemoryRetentionHours', 1, 8766) ?? defaults.timestreamMemoryRetentionHours,
    timestreamMagneticRetentionDays:
      readInteger(node, 'timestreamMagneticRetentionDays', 1, 73000) ?? defaults.timestreamMagneticRetentionDays,
    metricsSink: readMetricsSink(node.tryGetContext('metricsSink')),
    senderEmail,
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    // Up to 64: a list page queries every shard, so more shards cost every read.
    taskShards: readInteger(node, 'taskShards', 1, 64) ?? DEFAULT_TASK_SHARDS,
    tenants: readTenants(readString(node, 'tenants'), rateLimit, burstLimit),
    // WAF's own bounds for a rate-based rule over five minutes.
    ipRequestsPer5Minutes:
      readInteger(node, 'ipRequestsPer5Minutes', 10, 2_000_000_000) ?? DEFAULT_IP_REQUESTS_PER_5_MINUTES,
    // A presigned URL dies with the role credentials that signed it, which last hours at most.
    exportLinkSeconds: readInteger(node, 'exportLinkSeconds', 1, 3600) ?? DEFAULT_EXPORT_LINK_SECONDS,
    removalPolicy: defaults.removalPolicy,
    logRetention: defaults.logRetention,
  };
}

/**
 * `acme,globex=500/1000`: each tenant, optionally with its own rate and burst; the others
 * get the defaults.
 */
export function readTenants(raw: string | undefined, rateLimit: number, burstLimit: number): TenantLimits[] {
  if (raw === undefined) return [];
  const tenants: TenantLimits[] = [];
  for (const item of raw.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    const m = /^([^=]+?)(?:=(\d+)\/(\d+))?$/.exec(item);
    const tenant = m?.[1] ?? '';
    if (m === null || !TENANT_NAME.test(tenant)) {
      throw new Error(
        `context "tenants" must list tenant names (letters, digits, ".", "_", "-"; at most 64), each optionally ` +
          `with "=<rate>/<burst>", e.g. "acme,globex=500/1000"; got ${JSON.stringify(item)}`,
      );
    }
    if (tenants.some((t) => t.tenant === tenant)) {
      throw new Error(`context "tenants" names ${tenant} twice`);
    }
    const rate = m[2] === undefined ? rateLimit : Number(m[2]);
    const burst = m[3] === undefined ? burstLimit : Number(m[3]);
    if (rate < 1 || rate > 10_000 || burst < 1 || burst > 5_000) {
      throw new Error(`context "tenants": ${tenant}'s rate must be 1 to 10000 and its burst 1 to 5000, got ${rate}/${burst}`);
    }
    tenants.push({ tenant, rateLimit: rate, burstLimit: burst });
  }
  return tenants;
}

/**
 * `integrations.git=acme,ci.builds@111122223333=acme`: each service's source (bound to an
 * account when given) and the tenant its commands apply to. Neither taskstream's own sources
 * nor AWS's may be mapped.
 */
export function readIngestSources(raw: string | undefined): IngestSource[] {
  if (raw === undefined) return [];
  const sources: IngestSource[] = [];
  for (const item of raw.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    const m = /^([A-Za-z0-9._-]{1,256})(?:@(\d{12}))?=([^=]+)$/.exec(item);
    const source = m?.[1] ?? '';
    const tenant = m?.[3] ?? '';
    if (m === null || !TENANT_NAME.test(tenant) || source === 'taskstream' || source.startsWith('taskstream.') || source.startsWith('aws.')) {
      throw new Error(
        `context "ingestSources" must list "source[@account]=tenant" pairs, with a service's own source ` +
          `(not taskstream's, not aws.*) and a tenant name, e.g. "integrations.git=acme"; got ${JSON.stringify(item)}`,
      );
    }
    if (sources.some((s) => s.source === source)) {
      throw new Error(`context "ingestSources" maps ${source} twice`);
    }
    sources.push({ source, ...(m[2] === undefined ? {} : { account: m[2] }), tenant });
  }
  return sources;
}

/** The handler's `INGEST_SOURCES`: the same pairs, as it parses them. */
export function ingestSourcesEnv(sources: readonly IngestSource[]): string {
  return sources.map((s) => `${s.source}${s.account === undefined ? '' : `@${s.account}`}=${s.tenant}`).join(',');
}

function readMetricsSink(raw: unknown): MetricsSink {
  const value = raw ?? 'timestream';
  if (typeof value === 'string' && (METRICS_SINKS as readonly string[]).includes(value)) {
    return value as MetricsSink;
  }
  throw new Error(`context "metricsSink" must be one of ${METRICS_SINKS.join(', ')}, got ${JSON.stringify(value)}`);
}

function readStage(raw: unknown): Stage {
  const value = raw ?? 'dev';
  if (typeof value === 'string' && (STAGES as readonly string[]).includes(value)) {
    return value as Stage;
  }
  throw new Error(`context "stage" must be one of ${STAGES.join(', ')}, got ${JSON.stringify(value)}`);
}

function readString(node: Node, key: string): string | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new Error(`context "${key}" must be a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readPath(node: Node, key: string, fallback: string): string {
  return path.resolve(CDK_ROOT, readString(node, key) ?? fallback);
}

// `-c key=value` always arrives as a string, cdk.json may hold real booleans and numbers.
function readBoolean(node: Node, key: string): boolean | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context "${key}" must be true or false, got ${JSON.stringify(value)}`);
}

function readInteger(node: Node, key: string, min: number, max: number): number | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`context "${key}" must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}
