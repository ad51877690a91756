import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { STREAM_ROUTER } from '../handlers';
import { acknowledge } from '../nag';
import type { Observability } from './observability';
import { RustFunction } from './rust-function';

/** Retries of a failing stream batch before its records are parked (bisecting on the way). */
export const ROUTER_RETRY_ATTEMPTS = 10;
/** A change record older than this is parked rather than routed late. */
export const ROUTER_MAX_RECORD_AGE = Duration.hours(6);
/** IteratorAge above this means the router is falling behind the writes. */
const ITERATOR_AGE_ALARM = Duration.minutes(1);

export interface RouterProps {
  readonly config: TaskstreamConfig;
  readonly table: dynamodb.ITable;
  readonly bus: events.IEventBus;
  readonly observability: Observability;
}

/** The stream router: change records in, versioned domain events out on the bus. */
export class Router extends Construct {
  readonly handler: RustFunction;
  readonly parkingQueue: sqs.Queue;
  readonly iteratorAgeAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RouterProps) {
    super(scope, id);
    const { config, table, bus, observability } = props;
    const name = `${config.stage}-taskstream-${STREAM_ROUTER}`;

    // Two writers park here: the router itself, for a record it cannot derive events from
    // (it sends the record with the reason), and Lambda, for a batch that exhausted its
    // retries (it sends the shard and sequence numbers to re-read from the stream).
    this.parkingQueue = new sqs.Queue(this, 'Parking', {
      queueName: `${name}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.parkingQueue,
      'SQS3',
      'This queue is itself the dead-letter queue of the stream router (its Lambda on-failure destination and where it parks poison records); a DLQ of a DLQ would only move the problem.',
    );

    this.handler = new RustFunction(this, 'Handler', {
      config,
      handler: STREAM_ROUTER,
      environment: {
        EVENT_BUS_NAME: bus.eventBusName,
        ROUTER_DLQ_URL: this.parkingQueue.queueUrl,
      },
    });
    bus.grantPutEventsTo(this.handler.function);
    this.parkingQueue.grantSendMessages(this.handler.function);

    this.handler.function.addEventSource(
      new sources.DynamoEventSource(table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        // The router reports the first record it could not route; Lambda retries from there.
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: ROUTER_RETRY_ATTEMPTS,
        maxRecordAge: ROUTER_MAX_RECORD_AGE,
        // One batch per shard at a time keeps each item's changes in order.
        parallelizationFactor: 1,
        onFailure: new sources.SqsDlq(this.parkingQueue),
      }),
    );
    this.handler.acknowledgeUnscoped(
      'Reading the table stream needs dynamodb:ListStreams, which supports no resource-level permissions; the stream read actions are scoped to the stream ARN.',
    );

    this.iteratorAgeAlarm = observability.alarm(this, 'IteratorAge', {
      alarmName: `${name}-iterator-age`,
      alarmDescription: `The stream router is more than ${ITERATOR_AGE_ALARM.toHumanString()} behind the table's writes.`,
      metric: this.handler.function.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: ITERATOR_AGE_ALARM.toMilliseconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });

    observability.alarm(this, 'ParkedRecords', {
      alarmName: `${name}-dlq-not-empty`,
      alarmDescription: `Change records were parked in ${name}-dlq; their events were not published.`,
      metric: this.parkingQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
  }
}
