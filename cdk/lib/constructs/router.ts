import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { STREAM_ROUTER } from '../handlers';
import { acknowledge } from '../nag';
import type { Buckets } from './buckets';
import type { Events } from './events';
import type { Observability } from './observability';
import { RustFunction } from './rust-function';
import { KEY_READ_ACTIONS, KEY_WRITE_ACTIONS, type StageKey } from './stage-key';

/** Retries of a failing stream batch before its records are parked (bisecting on the way). */
export const ROUTER_RETRY_ATTEMPTS = 10;
/** A change record older than this is parked rather than routed late. */
export const ROUTER_MAX_RECORD_AGE = Duration.hours(6);
/** IteratorAge above this means the router is falling behind the writes. */
const ITERATOR_AGE_ALARM = Duration.minutes(1);
/** Writes to the table without a single router invocation for this long: the router has stalled. */
export const ROUTER_STALL_WINDOW = Duration.minutes(15);
/**
 * Concurrency reserved for the stream router, so that a burst of API or consumer invocations
 * can never take the account's last free executions from it while writes pile up in the
 * stream. The router runs one invocation per stream shard at a time (parallelization factor
 * 1), and a table of this size has a handful of shards; 10 covers them, splits included,
 * while taking little from the account's pool. It is also a ceiling: a table grown past 10
 * shards would show in the iterator-age alarm, and this is the number to raise then.
 */
export const ROUTER_RESERVED_CONCURRENCY = 10;
/** How long a failed batch stays in the failure bucket: the stream itself keeps records for 24 hours. */
export const ROUTER_FAILURE_RETENTION = Duration.days(90);

export interface RouterProps {
  readonly config: TaskstreamConfig;
  readonly table: dynamodb.ITable;
  readonly events: Events;
  readonly key: StageKey;
  readonly buckets: Buckets;
  readonly observability: Observability;
}

/** The stream router: change records in, versioned domain events out on the bus. */
export class Router extends Construct {
  readonly handler: RustFunction;
  readonly parkingQueue: sqs.Queue;
  /** Where Lambda writes a batch that exhausted its retries, records included. */
  readonly failureBucket: s3.Bucket;
  readonly iteratorAgeAlarm: cloudwatch.Alarm;
  readonly stallAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RouterProps) {
    super(scope, id);
    const { config, table, events, key, buckets, observability } = props;
    const name = `${config.stage}-taskstream-${STREAM_ROUTER}`;

    // The router parks here, itself, every record it cannot derive events from or whose
    // events EventBridge refuses for good, whole and with the reason.
    this.parkingQueue = new sqs.Queue(this, 'Parking', {
      queueName: `${name}-dlq`,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key.key,
      dataKeyReuse: Duration.minutes(5),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.parkingQueue,
      'SQS3',
      'This queue is itself the dead-letter queue of the stream router (where it parks poison records and events refused for good); a DLQ of a DLQ would only move the problem.',
    );

    // Lambda writes a batch it gave up on (retries or record age exhausted) here: for a stream
    // source an S3 destination receives the records themselves, an SQS one only their
    // positions, which the stream forgets after 24 hours.
    this.failureBucket = buckets.dataBucket('RouterFailures', {
      purpose: `${STREAM_ROUTER}-failures`,
      expireAfter: ROUTER_FAILURE_RETENTION,
    });

    this.handler = new RustFunction(this, 'Handler', {
      config,
      handler: STREAM_ROUTER,
      observability,
      reservedConcurrency: ROUTER_RESERVED_CONCURRENCY,
      environment: {
        EVENT_BUS_NAME: events.bus.eventBusName,
        ROUTER_DLQ_URL: this.parkingQueue.queueUrl,
      },
    });
    events.grantPublish(this.handler.function, events.source);
    events.lockSource(this.handler.role);
    this.handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.parkingQueue.queueArn] }),
    );
    key.grantVia(this.handler.function, 'sqs', [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]);
    buckets.grantWrite(this.handler, this.failureBucket, { list: true });

    const failureBucketArn = this.failureBucket.bucketArn;
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
        // The CDK's own S3 destination grants read and delete on the whole bucket; Lambda
        // needs only to put objects and list the bucket (granted above).
        onFailure: { bind: () => ({ destination: failureBucketArn }) },
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

    // IteratorAge says nothing when nothing reads the stream at all (a disabled mapping, a
    // role that lost its stream permissions): the table is written to while the router is
    // never invoked.
    const period = ROUTER_STALL_WINDOW;
    this.stallAlarm = observability.alarm(this, 'Stalled', {
      alarmName: `${name}-stalled`,
      alarmDescription:
        `The table was written to for ${period.toHumanString()} without a single stream-router invocation: ` +
        'its event source mapping may be disabled or failing before it invokes. No event reaches the bus meanwhile; ' +
        'the stream keeps records for 24 hours.',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(writes, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)',
        usingMetrics: {
          writes: table.metricConsumedWriteCapacityUnits({ period, statistic: 'Sum' }),
          invocations: this.handler.function.metricInvocations({ period, statistic: 'Sum' }),
        },
        period,
        label: 'writes without router invocations',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });

    observability.alarm(this, 'ParkedRecords', {
      alarmName: `${name}-dlq-not-empty`,
      alarmDescription:
        `Change records were parked in ${name}-dlq, each with its reason; their events were not published. ` +
        `After fixing the cause, route them again: taskstream dlq redrive --consumer ${STREAM_ROUTER} --aws --stage ${config.stage}.`,
      metric: this.parkingQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });

    observability.alarm(this, 'FailedBatches', {
      alarmName: `${name}-failed-batches`,
      alarmDescription:
        `Lambda gave up on a stream batch and wrote it, records included, to the bucket ${this.failureBucket.bucketName}; ` +
        `those records were not routed. Route them again: taskstream dlq redrive --consumer ${STREAM_ROUTER} --aws --stage ${config.stage}.`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/S3',
        metricName: 'PutRequests',
        dimensionsMap: { BucketName: this.failureBucket.bucketName, FilterId: FAILURE_METRICS_ID },
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    this.failureBucket.addMetric({ id: FAILURE_METRICS_ID });
  }
}

/** The request-metrics configuration of the failure bucket (S3 publishes PutRequests only for one). */
const FAILURE_METRICS_ID = 'EntireBucket';
