import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { sizingFor } from '../handlers';
import type { Route } from '../routing-table';
import type { Observability } from './observability';
import { RustFunction } from './rust-function';

/** A message that failed this many receives is parked in the DLQ with its reason. */
export const MAX_RECEIVE_COUNT = 5;

/** Lambda's guidance: a queue's visibility timeout is at least six times the function timeout. */
export const VISIBILITY_FACTOR = 6;

export interface ConsumerProps {
  readonly config: TaskstreamConfig;
  readonly route: Route;
  readonly observability: Observability;
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
    const { config, route, observability } = props;
    this.name = route.name;
    const sizing = sizingFor(route.name);
    const queueName = `${config.stage}-taskstream-${route.name}`;

    this.dlq = new sqs.Queue(this, 'Dlq', {
      queueName: `${queueName}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows, so a parked event outlives a long weekend.
      retentionPeriod: Duration.days(14),
    });

    this.queue = new sqs.Queue(this, 'Queue', {
      queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(sizing.timeout.toSeconds() * VISIBILITY_FACTOR),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    this.handler = new RustFunction(this, 'Handler', {
      config,
      handler: route.name,
      environment: {
        TASKSTREAM_CONSUMER: route.name,
        // The runtime dead-letters a message on its last receive itself, so it arrives with
        // its reason; the redrive policy (one receive later) catches anything it could not.
        DLQ_URL: this.dlq.queueUrl,
        MAX_RECEIVES: String(MAX_RECEIVE_COUNT),
        ...props.environment,
      },
    });
    this.dlq.grantSendMessages(this.handler.function);
    // A failed message goes back to the queue alone; the rest of the batch is deleted.
    this.handler.function.addEventSource(
      new sources.SqsEventSource(this.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
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
