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
  readonly deletionProtection: boolean;
  readonly archiveRetentionDays: number;
  readonly timestreamMemoryRetentionHours: number;
  readonly timestreamMagneticRetentionDays: number;
  /** The verified SES sender of the notifier. */
  readonly senderEmail: string;
  /** Optional address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Stateful resources of prod outlive the stack; dev ones are torn down with it. */
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: RetentionDays;
}

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
  return {
    stage,
    assetDir: readPath(node, 'assetDir', '../target/lambda'),
    routingFile: readPath(node, 'routingFile', '../events-schema/routing.json'),
    handlersDir: readPath(node, 'handlersDir', '../handlers'),
    stateMachinesDir: readPath(node, 'stateMachinesDir', '../state-machines'),
    deletionProtection: readBoolean(node, 'deletionProtection') ?? defaults.deletionProtection,
    archiveRetentionDays: readInteger(node, 'archiveRetentionDays', 1, 36500) ?? defaults.archiveRetentionDays,
    // Timestream's own bounds: memory store 1 h to 1 year, magnetic store 1 day to 200 years.
    timestreamMemoryRetentionHours:
      readInteger(node, 'timestreamMemoryRetentionHours', 1, 8766) ?? defaults.timestreamMemoryRetentionHours,
    timestreamMagneticRetentionDays:
      readInteger(node, 'timestreamMagneticRetentionDays', 1, 73000) ?? defaults.timestreamMagneticRetentionDays,
    senderEmail,
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    removalPolicy: defaults.removalPolicy,
    logRetention: defaults.logRetention,
  };
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
