import { Duration } from 'aws-cdk-lib';
import type { RoutingTable } from './routing-table';

export const TASK_API = 'task-api';
export const STREAM_ROUTER = 'stream-router';

/** How big a handler is and how long it may run; the rest of its wiring follows from its role. */
export interface HandlerSizing {
  readonly memoryMiB: number;
  readonly timeout: Duration;
  /** Queue consumers: alarm when the oldest message waits longer than this. */
  readonly maxMessageAge: Duration;
}

const DEFAULT_SIZING: HandlerSizing = {
  memoryMiB: 256,
  timeout: Duration.seconds(30),
  maxMessageAge: Duration.minutes(5),
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
  // Webhooks and Slack are remote HTTP calls with their own timeouts.
  notifier: { timeout: Duration.seconds(60) },
  'search-indexer': { memoryMiB: 512, timeout: Duration.seconds(60) },
};

export function sizingFor(handler: string): HandlerSizing {
  return { ...DEFAULT_SIZING, ...SIZING[handler] };
}

/** Every Lambda binary the stack deploys: the API, the router, and one per routed consumer. */
export function handlerNames(routing: RoutingTable): string[] {
  return [TASK_API, STREAM_ROUTER, ...routing.consumers.map((c) => c.name)];
}
