import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type { HandlerCrates } from './handler-crates';
import type { Route, RoutingTable } from './routing-table';

export const TASK_API = 'task-api';
export const STREAM_ROUTER = 'stream-router';
/** Fed by its own rule (commands of internal services), not by the routing table. */
export const TASK_INGEST = 'task-ingest';
/** Deployed when their crate exists, each with a rule of its own rather than a route. */
export const INBOUND_HANDLERS: readonly string[] = [TASK_INGEST];
/** Deployed whatever the routing table says: without them nothing is written or routed. */
export const REQUIRED_HANDLERS: readonly string[] = [TASK_API, STREAM_ROUTER];

/** How big a handler is and how long it may run; the rest of its wiring follows from its role. */
export interface HandlerSizing {
  readonly memoryMiB: number;
  readonly timeout: Duration;
  /** Queue consumers: alarm when the oldest message waits longer than this. */
  readonly maxMessageAge: Duration;
  /**
   * Queue consumers: the most concurrent invocations their queue's mapping starts (2 to
   * 1000), so a backlog cannot turn into a flood against the sink or the account.
   */
  readonly maxConcurrency: number;
}

const DEFAULT_SIZING: HandlerSizing = {
  memoryMiB: 256,
  timeout: Duration.seconds(30),
  maxMessageAge: Duration.minutes(5),
  maxConcurrency: 10,
};

// Rust binaries start in milliseconds and need little memory; memory above 256 MiB buys CPU
// for the handlers that serialise the most (API responses, search documents).
const SIZING: Record<string, Partial<HandlerSizing>> = {
  // API Gateway gives up after 29 s; a request that takes longer than 10 s is already a bug.
  [TASK_API]: { memoryMiB: 512, timeout: Duration.seconds(10) },
  // Up to 100 stream records, each turned into at most a few PutEvents entries.
  [STREAM_ROUTER]: { timeout: Duration.seconds(60) },
  'audit-history': {},
  escalation: {},
  // Metrics are not urgent: a backlog of 15 minutes is tolerated before paging.
  metrics: { timeout: Duration.seconds(60), maxMessageAge: Duration.minutes(15) },
  // Webhooks and Slack are remote HTTP calls with their own timeouts; SES sends a few
  // messages a second in a new account.
  notifier: { timeout: Duration.seconds(60), maxConcurrency: 4 },
  // An OpenSearch Serverless collection at its minimum capacity takes a few concurrent bulk
  // writers; more would only meet 429s.
  'search-indexer': { memoryMiB: 512, timeout: Duration.seconds(60), maxConcurrency: 4 },
  // Each command is a few table reads and one conditional write.
  [TASK_INGEST]: {},
};

export function sizingFor(handler: string): HandlerSizing {
  return { ...DEFAULT_SIZING, ...SIZING[handler] };
}

/**
 * Which handlers a stack deploys. Like the embedded bus, which only feeds the queues of the
 * consumers that run, the stack deploys a routed consumer only when its handler crate exists;
 * its events are archived all the same, so it can be backfilled by a replay once it does.
 */
export interface HandlerPlan {
  /** Routed consumers with a crate, in routing-table order: each gets its rule, queue and function. */
  readonly consumers: readonly Route[];
  /** Routed consumers without a crate: not deployed. */
  readonly withoutCrate: readonly string[];
  /** Inbound handlers with a crate (the task ingest): each gets its own rule, queue and function. */
  readonly inbound: readonly string[];
  /** Crates that are neither required, routed to nor inbound: nothing would ever invoke them. */
  readonly unrouted: readonly string[];
}

export function planHandlers(routing: RoutingTable, crates: HandlerCrates): HandlerPlan {
  const present = new Set(crates.names);
  for (const handler of REQUIRED_HANDLERS) {
    if (!present.has(handler)) {
      throw new Error(
        `no handler crate "${handler}" at ${path.join(crates.dir, handler, 'Cargo.toml')}: ` +
          `${REQUIRED_HANDLERS.join(' and ')} are always deployed; point -c handlersDir=… at the workspace's handlers/ folder`,
      );
    }
  }
  const routed = new Set(routing.consumers.map((c) => c.name));
  return {
    consumers: routing.consumers.filter((c) => present.has(c.name)),
    withoutCrate: routing.consumers.filter((c) => !present.has(c.name)).map((c) => c.name),
    inbound: INBOUND_HANDLERS.filter((name) => present.has(name)),
    unrouted: crates.names.filter(
      (name) => !routed.has(name) && !REQUIRED_HANDLERS.includes(name) && !INBOUND_HANDLERS.includes(name),
    ),
  };
}

/** Every Lambda binary the stack deploys: the API, the router, each deployed consumer and inbound handler. */
export function handlerNames(plan: HandlerPlan): string[] {
  return [...REQUIRED_HANDLERS, ...plan.consumers.map((c) => c.name), ...plan.inbound];
}
