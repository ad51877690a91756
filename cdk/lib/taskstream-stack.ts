import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { TaskstreamConfig } from './config';
import { Api } from './constructs/api';
import { Consumer } from './constructs/consumer';
import { Data, GSI1, GSI2 } from './constructs/data';
import { Events } from './constructs/events';
import { MetricsStore } from './constructs/metrics-store';
import { Notifications } from './constructs/notifications';
import { Observability } from './constructs/observability';
import { Router } from './constructs/router';
import type { RustFunction } from './constructs/rust-function';
import { Search } from './constructs/search';
import { Workflows } from './constructs/workflows';
import type { RoutingTable } from './routing-table';
import type { StateMachineFile } from './state-machine-files';

export interface TaskstreamStackProps extends StackProps {
  readonly config: TaskstreamConfig;
  readonly routing: RoutingTable;
  readonly stateMachineFiles: readonly StateMachineFile[];
}

/** All of taskstream on AWS, for one stage. */
export class TaskstreamStack extends Stack {
  readonly consumers = new Map<string, Consumer>();
  readonly data: Data;
  readonly events: Events;
  readonly router: Router;
  readonly api: Api;
  readonly search: Search;
  readonly metricsStore: MetricsStore;
  readonly notifications: Notifications;
  readonly workflows: Workflows;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: TaskstreamStackProps) {
    super(scope, id, props);
    const { config, routing } = props;

    this.observability = new Observability(this, 'Observability', { config });
    this.data = new Data(this, 'Data', { config });
    const table = this.data.table;
    this.events = new Events(this, 'Events', { config, routing });
    this.search = new Search(this, 'Search', { config });
    this.metricsStore = new MetricsStore(this, 'MetricsStore', { config, key: this.data.key });
    this.notifications = new Notifications(this, 'Notifications', { config });
    this.workflows = new Workflows(this, 'Workflows', {
      config,
      files: props.stateMachineFiles,
      bus: this.events.bus,
      data: this.data,
    });

    this.router = new Router(this, 'Router', {
      config,
      table,
      bus: this.events.bus,
      observability: this.observability,
    });
    this.observability.addRouterRow(this.router.handler.function);

    const tableEnv = { TABLE_NAME: table.tableName, TABLE_GSI1_NAME: GSI1, TABLE_GSI2_NAME: GSI2 };
    const searchEnv = { SEARCH_ENDPOINT: this.search.endpoint, SEARCH_COLLECTION: this.search.collectionName };

    this.api = new Api(this, 'Api', {
      config,
      observability: this.observability,
      environment: { ...tableEnv, ...searchEnv },
    });
    this.data.grantReadWrite(this.api.handler.function);
    this.search.grantSearching(this.api.handler);
    this.observability.addApiRow(this.api.restApi);

    // What each known consumer reaches beyond its own queue. A consumer added to the routing
    // table without an entry here still gets its queue, DLQ, rule, function and alarms.
    const wiring: Record<string, { environment: Record<string, string>; grant: (fn: RustFunction) => void }> = {
      'audit-history': {
        environment: tableEnv,
        grant: (fn) => this.data.grantReadWrite(fn.function),
      },
      escalation: {
        environment: { ...tableEnv, STATE_MACHINE_ARNS: this.workflows.arnsJson() },
        grant: (fn) => {
          this.data.grantRead(fn.function);
          this.workflows.grantStart(fn);
        },
      },
      metrics: {
        environment: {
          TIMESTREAM_DATABASE: this.metricsStore.databaseName,
          TIMESTREAM_TABLE: this.metricsStore.tableName,
        },
        grant: (fn) => this.metricsStore.grantWrite(fn),
      },
      notifier: {
        environment: {
          ...tableEnv,
          SENDER_EMAIL: config.senderEmail,
          WEBHOOK_SECRETS_ARN: this.notifications.webhookSecrets.secretArn,
        },
        // The table holds the recipients' preferences and the sent-notification markers that
        // make a notification go out once per (event, recipient).
        grant: (fn) => {
          this.data.grantReadWrite(fn.function);
          this.notifications.grantNotify(fn);
        },
      },
      'search-indexer': {
        environment: searchEnv,
        grant: (fn) => this.search.grantIndexing(fn),
      },
    };

    for (const route of routing.consumers) {
      const wired = wiring[route.name];
      const consumer = new Consumer(this, `Consumer-${route.name}`, {
        config,
        route,
        observability: this.observability,
        environment: wired?.environment ?? {},
      });
      wired?.grant(consumer.handler);
      this.events.route(route, consumer.queue, consumer.dlq);
      this.observability.addConsumerRow(route.name, consumer.queue, consumer.dlq);
      this.consumers.set(route.name, consumer);
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.restApi.url });
    new CfnOutput(this, 'ApiKeyId', { value: this.api.apiKey.keyId });
    new CfnOutput(this, 'UserPoolId', { value: this.api.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.api.userPoolClient.userPoolClientId });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'EventBusName', { value: this.events.bus.eventBusName });
    new CfnOutput(this, 'SearchEndpoint', { value: this.search.endpoint });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn });
  }
}
