import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';

/** The namespace and metric names the Rust runtime emits as CloudWatch embedded metrics. */
export const EMF_NAMESPACE = 'Taskstream';
export const EMF_DIMENSION = 'Consumer';
/** The stream router's embedded metrics, per batch, under dimension `Router`. */
export const ROUTER_DIMENSION = 'Router';
export const ROUTER_METRICS = ['Records', 'Events', 'Parked', 'Resends', 'BatchMs'] as const;

export interface ObservabilityProps {
  readonly config: TaskstreamConfig;
}

/** The alarm topic every alarm notifies, and the one dashboard operators watch. */
export class Observability extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  private readonly alarmAction: actions.SnsAction;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config } = props;

    // The topic is encrypted with its own key, because CloudWatch alarms cannot publish to a
    // topic under the AWS-managed SNS key: the key policy must name cloudwatch.amazonaws.com.
    const key = new kms.Key(this, 'TopicKey', {
      description: `taskstream ${config.stage} alarm topic`,
      enableKeyRotation: true,
      removalPolicy: config.removalPolicy,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        // In a key policy "*" means this key.
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Alarms', {
      topicName: `${config.stage}-taskstream-alarms`,
      displayName: `taskstream ${config.stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    if (config.alarmEmail !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    }
    this.alarmAction = new actions.SnsAction(this.topic);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${config.stage}-taskstream`,
      defaultInterval: Duration.hours(3),
    });
  }

  /** An alarm that notifies the alarm topic when it fires and when it recovers. */
  alarm(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, {
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...props,
    });
    alarm.addAlarmAction(this.alarmAction);
    alarm.addOkAction(this.alarmAction);
    return alarm;
  }

  /** Processed, failed and lag of one consumer (its EMF metrics), beside its queue depths. */
  addConsumerRow(consumer: string, queue: sqs.IQueue, dlq: sqs.IQueue): void {
    const m = (metricName: string, statistic: string) => Observability.consumerMetric(consumer, metricName, statistic);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${consumer}: processed / failed`,
        left: [m('Processed', 'Sum'), m('Failed', 'Sum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${consumer}: lag (ms)`,
        left: [m('LagMs', 'p50'), m('LagMs', 'p99'), m('LagMs', 'Maximum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${consumer}: queue`,
        left: [
          queue.metricApproximateNumberOfMessagesVisible({ label: 'queued', period: Duration.minutes(1) }),
          dlq.metricApproximateNumberOfMessagesVisible({ label: 'in DLQ', period: Duration.minutes(1) }),
        ],
        right: [queue.metricApproximateAgeOfOldestMessage({ label: 'oldest (s)', period: Duration.minutes(1) })],
        width: 8,
      }),
    );
  }

  /** How far the stream router is behind the writes, and what its batches did. */
  addRouterRow(router: lambda.IFunction, name: string): void {
    const m = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: EMF_NAMESPACE,
        metricName,
        dimensionsMap: { [ROUTER_DIMENSION]: name },
        statistic,
        period: Duration.minutes(1),
        label: `${metricName} (${statistic})`,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'stream-router: records / events / parked / resends',
        left: [m('Records', 'Sum'), m('Events', 'Sum'), m('Parked', 'Sum'), m('Resends', 'Sum')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'stream-router: batch duration (ms)',
        left: [m('BatchMs', 'p50'), m('BatchMs', 'p99'), m('BatchMs', 'Maximum')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'stream-router: iterator age (ms)',
        left: [router.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'stream-router: invocations / errors',
        left: [router.metricInvocations({ period: Duration.minutes(1) }), router.metricErrors({ period: Duration.minutes(1) })],
        width: 12,
      }),
    );
  }

  /** Latency percentiles and error counts of the HTTP API. */
  addApiRow(api: apigw.RestApi): void {
    const period = Duration.minutes(1);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API latency (ms)',
        left: ['p50', 'p95', 'p99'].map((statistic) => api.metricLatency({ statistic, period, label: statistic })),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'API errors',
        left: [
          api.metricClientError({ statistic: 'Sum', period, label: '4XXError' }),
          api.metricServerError({ statistic: 'Sum', period, label: '5XXError' }),
        ],
        width: 12,
      }),
    );
  }

  /** A metric the Rust runtime emits for one consumer (`Processed`, `Failed`, `LagMs`). */
  static consumerMetric(consumer: string, metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: EMF_NAMESPACE,
      metricName,
      dimensionsMap: { [EMF_DIMENSION]: consumer },
      statistic,
      period: Duration.minutes(1),
      label: `${consumer} ${metricName}`,
    });
  }
}
