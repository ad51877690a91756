import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { Route, RoutingTable } from '../routing-table';

export interface EventsProps {
  readonly config: TaskstreamConfig;
  readonly routing: RoutingTable;
}

/** The custom bus, its archive, and one rule per deployed consumer of the routing table. */
export class Events extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  readonly rules = new Map<string, events.Rule>();
  /** The bus name as a plain string (the bus attribute is a token). */
  readonly busName: string;
  private readonly routing: RoutingTable;

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);
    const { config, routing } = props;
    this.routing = routing;
    this.busName = `${config.stage}-${routing.bus}`;

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: this.busName,
      description: `taskstream ${config.stage} domain events`,
    });

    // Everything on the bus is archived, external events included, so an operator can replay
    // any window into one consumer. Matching on the account is how a pattern says "all".
    this.archive = this.bus.archive('Archive', {
      archiveName: this.busName,
      description: `every event on ${this.busName}`,
      eventPattern: { account: [Stack.of(this).account] },
      retention: Duration.days(config.archiveRetentionDays),
    });
  }

  /**
   * Deliver the consumer's detail-types to its queue. Events EventBridge cannot deliver
   * after its retries go to the consumer's DLQ: they have the same shape as the queue's
   * messages, so the same redrive puts them back.
   */
  route(route: Route, queue: sqs.IQueue, dlq: sqs.IQueue): events.Rule {
    const rule = new events.Rule(this, `Route-${route.name}`, {
      ruleName: `${this.busName}-${route.name}`.slice(0, 64),
      description: `taskstream events for ${route.name}`,
      eventBus: this.bus,
      eventPattern: {
        source: [this.routing.source],
        detailType: [...route.detailTypes],
      },
      targets: [
        new targets.SqsQueue(queue, {
          deadLetterQueue: dlq,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    this.rules.set(route.name, rule);
    return rule;
  }
}
