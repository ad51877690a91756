import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { Route, RoutingTable } from '../routing-table';
import type { StageKey } from './stage-key';

export interface EventsProps {
  readonly config: TaskstreamConfig;
  readonly routing: RoutingTable;
  readonly key: StageKey;
}

/**
 * The source the Step Functions workflows publish under. Only the stream router publishes the
 * routing table's source (`taskstream`); every other publisher has a source of its own.
 */
export const WORKFLOW_SOURCE = 'taskstream.workflows';

/**
 * The custom bus, its archive, and one rule per deployed consumer of the routing table.
 *
 * The bus is source-locked: every grant of `events:PutEvents` names the one source its
 * holder may publish (an `events:source` condition), and the bus policy denies the routing
 * table's source to every principal but the stream router, so not even an administrator's
 * role can publish a forged taskstream event.
 */
export class Events extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  readonly rules = new Map<string, events.Rule>();
  /** The bus name as a plain string (the bus attribute is a token). */
  readonly busName: string;
  /** The source of taskstream's own events, which only the stream router may publish. */
  readonly source: string;
  private readonly routing: RoutingTable;

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);
    const { config, routing } = props;
    this.routing = routing;
    this.source = routing.source;
    this.busName = `${config.stage}-${routing.bus}`;

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: this.busName,
      description: `taskstream ${config.stage} domain events`,
      kmsKey: props.key.key,
    });

    // Everything on the bus is archived, external events included, so an operator can replay
    // any window into one consumer. Matching on the account is how a pattern says "all".
    // The archive is under the stage key too. The CDK's Archive would add its key policy
    // statement with the bus's ARN attribute, and the key and the bus would each depend on
    // the other; the statement below names the bus by its (known) ARN instead, and the
    // archive gets the key by reference only.
    const busArn = Stack.of(this).formatArn({ service: 'events', resource: 'event-bus', resourceName: this.busName });
    const eventBridge = new iam.ServicePrincipal('events.amazonaws.com');
    props.key.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeArchiveData',
        principals: [eventBridge],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
        // In a key policy "*" means this key.
        resources: ['*'],
        conditions: { StringEquals: { 'kms:EncryptionContext:aws:events:event-bus:arn': busArn } },
      }),
    );
    props.key.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeArchiveKey',
        principals: [eventBridge],
        actions: ['kms:DescribeKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.archive = new events.Archive(this, 'Archive', {
      sourceEventBus: this.bus,
      archiveName: this.busName,
      description: `every event on ${this.busName}`,
      eventPattern: { account: [Stack.of(this).account] },
      retention: Duration.days(config.archiveRetentionDays),
      kmsKey: kms.Key.fromKeyArn(this, 'ArchiveKey', props.key.key.keyArn),
    });
  }

  /** Let `grantee` put events on the bus under `source`, and under no other source. */
  grantPublish(grantee: iam.IGrantable, source: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: { StringEquals: { 'events:source': [source] } },
      }),
    );
  }

  /**
   * Deny the routing table's source to every principal but `publisher` (the stream router's
   * role), whatever their own policies allow.
   */
  lockSource(publisher: iam.IRole): void {
    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheStreamRouterPublishesTaskstreamEvents',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: {
          StringEquals: { 'events:source': [this.source] },
          ArnNotEquals: { 'aws:PrincipalArn': publisher.roleArn },
        },
      }),
    );
  }

  /**
   * Deliver the commands services publish (`commandTypes`) to the queue of the inbound
   * handler `name`.
   */
  routeCommands(name: string, commandTypes: readonly string[], queue: sqs.IQueue, dlq: sqs.IQueue): events.Rule {
    // Every source but taskstream's own (its events and its workflows'): a service whose
    // source is not mapped to a tenant still reaches the ingest, which dead-letters its
    // commands with that reason, where an operator sees it.
    const rule = new events.Rule(this, `Inbound-${name}`, {
      ruleName: `${this.busName}-${name}`.slice(0, 64),
      description: `commands of internal services for ${name}`,
      eventBus: this.bus,
      eventPattern: {
        source: events.Match.anythingBut(this.routing.source, WORKFLOW_SOURCE),
        detailType: [...commandTypes],
      },
      targets: [
        new targets.SqsQueue(queue, {
          deadLetterQueue: dlq,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    this.rules.set(name, rule);
    return rule;
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
