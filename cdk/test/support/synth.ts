import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../lib/app';
import { CDK_ROOT } from '../../lib/config';
import { REQUIRED_HANDLERS } from '../../lib/handlers';
import { loadRoutingTable, type RoutingTable } from '../../lib/routing-table';
import type { TaskstreamStack } from '../../lib/taskstream-stack';
import { DEFAULT_ROUTING_FILE, tempDir, writePlaceholderAssets } from './placeholder-assets';

// The same account and region the CI synth uses, so ARNs and conditions are deterministic.
process.env.CDK_DEFAULT_ACCOUNT = '123456789012';
process.env.CDK_DEFAULT_REGION = 'us-east-1';

export const ROUTING: RoutingTable = loadRoutingTable(DEFAULT_ROUTING_FILE);
export const FIXTURES = path.join(CDK_ROOT, 'test/fixtures');
/** Example definitions exercising every integration the workflows construct supports. */
export const EXAMPLE_STATE_MACHINES = path.join(FIXTURES, 'state-machines');

/** The feature flags of cdk.json, so tests synthesize exactly what the CLI does. */
const CDK_JSON_CONTEXT = (JSON.parse(fs.readFileSync(path.join(CDK_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

/** The tenants every test synth has unless its context says otherwise: one on the defaults, one on its own limits. */
export const TEST_TENANTS = 'acme,globex=500/1000';

/** The API, the router and every consumer of the routing table. */
export const ALL_HANDLERS: readonly string[] = [...REQUIRED_HANDLERS, ...ROUTING.consumers.map((c) => c.name)];

/** A handlers folder holding a crate (a bare `Cargo.toml`) for each of `names`. */
export function handlerCratesDir(names: readonly string[]): string {
  const dir = tempDir('handlers');
  for (const name of names) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'Cargo.toml'), `[package]\nname = "${name}"\n`);
  }
  return dir;
}

let allHandlers: string | undefined;
/**
 * A crate for every handler, written once per test process. Tests synthesize against it by
 * default, so every consumer's wiring stays covered whichever crates the workspace has so far.
 */
export function allHandlersDir(): string {
  allHandlers ??= handlerCratesDir(ALL_HANDLERS);
  return allHandlers;
}

const assetDirs = new Map<string, string>();
/** Placeholder binaries for the handlers deployed with `handlersDir`, written once per folder. */
export function placeholderAssetDir(handlersDir = allHandlersDir()): string {
  let dir = assetDirs.get(handlersDir);
  if (dir === undefined) {
    dir = tempDir('assets');
    writePlaceholderAssets(dir, handlersDir);
    assetDirs.set(handlersDir, dir);
  }
  return dir;
}

export interface Synthesized {
  readonly stack: TaskstreamStack;
  readonly template: Template;
  /** The raw template, for checks that walk every resource. */
  readonly resources: Record<string, { Type: string; Properties?: Record<string, any>; [k: string]: any }>;
  readonly report: ValidationReport;
}

export interface ValidationReport {
  readonly pluginReports: Array<{
    pluginName: string;
    conclusion: string;
    violations: Array<{ ruleName: string; severity: string; violatingConstructs: Array<{ constructPath: string }> }>;
    suppressedViolations?: Array<{
      ruleName: string;
      severity: string;
      acknowledgedId: string;
      reason: string;
      acknowledgedAt: string;
      violatingConstructs: Array<{ constructPath: string }>;
    }>;
  }>;
}

/**
 * Build the app in memory with the given context on top of cdk.json's, and synthesize it.
 * Synthesis runs the validation plugins (cdk-nag); it throws if any reports an error.
 * Unless the context says otherwise, every handler crate exists and has a placeholder binary.
 */
export function synth(context: Record<string, unknown> = {}): Synthesized {
  const outdir = tempDir('cdk-out');
  const handlersDir = path.resolve(CDK_ROOT, (context.handlersDir as string | undefined) ?? allHandlersDir());
  const { app, stack } = createApp({
    outdir,
    context: {
      ...CDK_JSON_CONTEXT,
      senderEmail: 'tasks@example.com',
      tenants: TEST_TENANTS,
      handlersDir,
      ...('assetDir' in context ? {} : { assetDir: placeholderAssetDir(handlersDir) }),
      ...context,
    },
  });
  const assembly = app.synth();
  const json = assembly.getStackByName(stack.stackName).template as { Resources: Synthesized['resources'] };
  const reportFile = path.join(assembly.directory, 'validation-report.json');
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as ValidationReport;
  return { stack, template: Template.fromJSON(json), resources: json.Resources, report };
}

const cache = new Map<string, Synthesized>();
/** A synth shared by the tests of one file (each test file runs in its own process). */
export function synthOnce(name: 'default' | 'with-workflows'): Synthesized {
  let s = cache.get(name);
  if (s === undefined) {
    s = synth(name === 'with-workflows' ? { stateMachinesDir: EXAMPLE_STATE_MACHINES } : {});
    cache.set(name, s);
  }
  return s;
}

/** Logical ids of the resources of one type. */
export function logicalIds(s: Synthesized, type: string): string[] {
  return Object.entries(s.resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}

/** The logical id a `{Ref}` / `{Fn::GetAtt}` points at, if it is one. */
export function referencedId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref;
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}
