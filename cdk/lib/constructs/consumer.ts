import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { sizingFor } from '../handlers';
import type { Route } from '../routing-table';
import type { Observability } from './observability';
import { RustFunction } from './rust-function';
import { KEY_READ_ACTIONS, KEY_WRITE_ACTIONS, type StageKey } from './stage-key';

/** A message that failed this many receives is parked in the DLQ with its reason. */
export const MAX_RECEIVE_COUNT = 5;
/**
 * A message that failed only because its sink throttled (OpenSearch 429, SES, DynamoDB) is
 * not poison: the runtime backs it off with ChangeMessageVisibility (10 s doubling to 15
 * minutes between receives, less up to half in jitter: 1.7 to 3.4 hours in all) and parks it
 * only after this many receives.
 */
export const MAX_THROTTLED_RECEIVES = 20;
/** SQS's own redrive, one receive after the runtime would have parked a message itself. */
export const REDRIVE_RECEIVE_COUNT = MAX_THROTTLED_RECEIVES + 1;

/** Lambda's guidance: a queue's visibility timeout is at least six times the function timeout. */
export const VISIBILITY_FACTOR = 6;

export interface ConsumerProps {
  readonly config: TaskstreamConfig;
  readonly route: Route;
  readonly observability: Observability;
  readonly key: StageKey;
  readonly environment?: Record<string, string>;
}

/** One consumer of the bus: its queue, its DLQ, its handler and its alarms. */
export class Consumer extends Construct {
  readonly name: string;
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly handler: RustFunction;
  readonly dlqAlarm: cloudwatch.Alarm;
  readonly ageAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ConsumerProps) {
    super(scope, id);
    const { config, route, observability, key } = props;
    this.name = route.name;
    const sizing = sizingFor(route.name);
    const queueName = `${config.stage}-taskstream-${route.name}`;

    // Both under the stage key: they hold whole events, task content included.
    const encryption = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key.key,
      dataKeyReuse: Duration.minutes(5),
    };
    this.dlq = new sqs.Queue(this, 'Dlq', {
      queueName: `${queueName}-dlq`,
      ...encryption,
      enforceSSL: true,
      // The longest SQS allows, so a parked event outlives a long weekend.
      retentionPeriod: Duration.days(14),
    });

    this.queue = new sqs.Queue(this, 'Queue', {
      queueName,
      ...encryption,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(sizing.timeout.toSeconds() * VISIBILITY_FACTOR),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: REDRIVE_RECEIVE_COUNT },
    });

    this.handler = new RustFunction(this, 'Handler', {
      config,
      handler: route.name,
      observability,
      environment: {
        TASKSTREAM_CONSUMER: route.name,
        // The runtime dead-letters a message on its last receive itself, so it arrives with
        // its reason; the redrive policy (one receive later) catches anything it could not.
        DLQ_URL: this.dlq.queueUrl,
        MAX_RECEIVES: String(MAX_RECEIVE_COUNT),
        MAX_THROTTLED_RECEIVES: String(MAX_THROTTLED_RECEIVES),
        // Where a throttled message's visibility is changed (the event carries only its ARN).
        QUEUE_URL: this.queue.queueUrl,
        ...props.environment,
      },
    });
    this.handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.dlq.queueArn] }),
    );
    key.grantVia(this.handler.function, 'sqs', [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]);
    // A failed message goes back to the queue alone; the rest of the batch is deleted. The
    // mapping's own consume grant includes sqs:ChangeMessageVisibility, which the backoff of
    // throttled messages uses.
    this.handler.function.addEventSource(
      new sources.SqsEventSource(this.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
        // Bounds what one consumer can ask of its sink (and of the account's concurrency).
        maxConcurrency: sizing.maxConcurrency,
      }),
    );

    this.dlqAlarm = observability.alarm(this, 'DlqNotEmpty', {
      alarmName: `${queueName}-dlq-not-empty`,
      // The runtime dead-letters a message itself (to keep its reason), so SQS does not know
      // its source queue: a redrive names the destination.
      alarmDescription:
        `Events for ${route.name} were parked in ${queueName}-dlq, each with its reason in the ` +
        "message attributes (reason, consumer, receives). After fixing the cause, move them back with " +
        `"aws sqs start-message-move-task --source-arn ${this.dlq.queueArn} --destination-arn ${this.queue.queueArn}".`,
      metric: this.dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });

    this.ageAlarm = observability.alarm(this, 'Backlog', {
      alarmName: `${queueName}-backlog`,
      alarmDescription: `${route.name} is behind: its oldest message has waited more than ${sizing.maxMessageAge.toHumanString()}.`,
      metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: sizing.maxMessageAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
  }
}
