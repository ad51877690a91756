import { Annotations, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ingestSourcesEnv, type TaskstreamConfig } from './config';
import { Api } from './constructs/api';
import { Buckets } from './constructs/buckets';
import { Consumer } from './constructs/consumer';
import { Data, GSI1, GSI2, GSI3 } from './constructs/data';
import { Events } from './constructs/events';
import { MetricsStore } from './constructs/metrics-store';
import { Notifications } from './constructs/notifications';
import { Observability } from './constructs/observability';
import { Router } from './constructs/router';
import { SchemaRegistry } from './constructs/schema-registry';
import type { RustFunction } from './constructs/rust-function';
import { Search } from './constructs/search';
import { StageKey } from './constructs/stage-key';
import { WebhookSecrets } from './constructs/webhook-secrets';
import { Workflows } from './constructs/workflows';
import { type HandlerPlan, TASK_INGEST } from './handlers';
import type { RoutingTable } from './routing-table';
import { commandTypes, type SchemaDocument } from './schema-documents';
import type { StateMachineFile } from './state-machine-files';

export interface TaskstreamStackProps extends StackProps {
  readonly config: TaskstreamConfig;
  readonly routing: RoutingTable;
  /** The consumers to deploy: those of the routing table whose handler crate exists. */
  readonly handlers: HandlerPlan;
  readonly stateMachineFiles: readonly StateMachineFile[];
  /** The registry documents of every event and command (`events-schema/registry/`). */
  readonly schemaDocuments: readonly SchemaDocument[];
}

/** What a consumer reaches beyond its own queue: its environment and its grants. */
interface Wiring {
  readonly environment: Record<string, string>;
  readonly grant: (fn: RustFunction) => void;
}

/** All of taskstream on AWS, for one stage. */
export class TaskstreamStack extends Stack {
  /** The deployed consumers; routed consumers without a handler crate are not among them. */
  readonly consumers = new Map<string, Consumer>();
  readonly handlers: HandlerPlan;
  readonly key: StageKey;
  readonly buckets: Buckets;
  readonly data: Data;
  readonly events: Events;
  readonly router: Router;
  readonly api: Api;
  readonly search: Search;
  readonly observability: Observability;
  readonly schemaRegistry: SchemaRegistry;
  readonly webhookSecrets: WebhookSecrets;
  /** The task ingest, when its handler crate exists. */
  readonly ingest?: Consumer;

  constructor(scope: Construct, id: string, props: TaskstreamStackProps) {
    super(scope, id, props);
    const { config, routing, handlers } = props;
    this.handlers = handlers;

    this.observability = new Observability(this, 'Observability', { config });
    this.key = new StageKey(this, 'StageKey', { config });
    const key = this.key;
    this.buckets = new Buckets(this, 'Buckets', { config, key });
    this.data = new Data(this, 'Data', { config, key });
    const table = this.data.table;
    this.events = new Events(this, 'Events', { config, routing, key });
    this.search = new Search(this, 'Search', { config, key });

    this.router = new Router(this, 'Router', {
      config,
      table,
      events: this.events,
      key,
      buckets: this.buckets,
      observability: this.observability,
    });
    this.observability.addRouterRow(this.router.handler.function, this.router.handler.handler);

    // Every handler that builds the store reads the same layout: index names and the shard
    // count of the task lists (shared/aws/src/dynamo/README.md).
    const tableEnv = {
      TABLE_NAME: table.tableName,
      TABLE_GSI1_NAME: GSI1,
      TABLE_GSI2_NAME: GSI2,
      TABLE_GSI3_NAME: GSI3,
      TABLE_TASK_SHARDS: String(config.taskShards),
    };
    const searchEnv = { SEARCH_ENDPOINT: this.search.endpoint, SEARCH_COLLECTION: this.search.collectionName };
    this.webhookSecrets = new WebhookSecrets(this, 'WebhookSecrets', { config });

    this.api = new Api(this, 'Api', {
      config,
      observability: this.observability,
      buckets: this.buckets,
      environment: { ...tableEnv, ...searchEnv, ...this.webhookSecrets.environment() },
    });
    this.data.grantReadWrite(this.api.handler.function);
    // Webhook subscriptions: the API makes, rotates and deletes their signing secrets.
    this.webhookSecrets.grantManage(this.api.handler);
    this.search.grantSearching(this.api.handler);
    this.observability.addApiRow(this.api.restApi);

    // What each known consumer reaches beyond its own queue. An entry runs only when its
    // consumer is deployed, and it creates the resources no other handler uses (Timestream
    // store, SES identity, state machines): a stack without the consumer has none of them,
    // so it needs no Timestream-enabled account and sends no SES verification mail. A consumer in the routing table without an entry here gets
    // its queue, DLQ, rule, function and alarms once its crate exists, and no other permissions.
    const wiring: Record<string, () => Wiring> = {
      'audit-history': () => ({
        environment: tableEnv,
        // History items only: it neither reads nor changes tasks.
        grant: (fn) => this.data.grantHistoryAppend(fn.function),
      }),
      escalation: () => {
        const workflows = new Workflows(this, 'Workflows', {
          config,
          files: props.stateMachineFiles,
          events: this.events,
          data: this.data,
        });
        return {
          environment: { ...tableEnv, STATE_MACHINE_ARNS: workflows.arnsJson() },
          // Reads tenants' policies and writes its own item beside each task (which execution
          // is the task's current one); starts and stops executions. Sprint closure runs here
          // too: it lists a closed sprint's tasks (Query, on the indexes) and moves them and
          // records the summary through the store's transactions (Put and Update).
          grant: (fn) => {
            this.data.grantReadWrite(fn.function);
            workflows.grantStartStop(fn);
          },
        };
      },
      metrics: (): Wiring => {
        if (config.metricsSink === 'none') {
          // No store: the consumer prints its records as EMF, which Lambda's log delivery
          // turns into CloudWatch metrics with no permission of the function's own.
          return { environment: { METRICS_SINK: 'none' }, grant: () => undefined };
        }
        const store = new MetricsStore(this, 'MetricsStore', { config, key: this.data.key });
        return {
          environment: {
            METRICS_SINK: 'timestream',
            TIMESTREAM_DATABASE: store.databaseName,
            TIMESTREAM_TABLE: store.tableName,
          },
          grant: (fn) => store.grantWrite(fn),
        };
      },
      notifier: () => {
        const notifications = new Notifications(this, 'Notifications', { config });
        return {
          environment: {
            ...tableEnv,
            SENDER_EMAIL: config.senderEmail,
            ...this.webhookSecrets.environment(),
            USER_POOL_ID: this.api.userPool.userPoolId,
          },
          // The table holds the recipients' preferences, the sent-notification markers that
          // make a notification go out once per (event, recipient), and webhook subscriptions
          // and deliveries; each delivery is signed with its subscription's secrets, and
          // retries go out on a tick every minute. A subscription failing for three days is
          // turned off and the tenant's admins told: it lists the pool's admin group.
          grant: (fn) => {
            this.data.grantReadWrite(fn.function);
            notifications.grantNotify(fn);
            this.webhookSecrets.grantRead(fn);
            notifications.tickEveryMinute(fn);
            this.api.grantListAdmins(fn);
          },
        };
      },
      'search-indexer': () => ({
        environment: searchEnv,
        grant: (fn) => this.search.grantIndexing(fn),
      }),
    };

    for (const route of handlers.consumers) {
      const wired = wiring[route.name]?.();
      const consumer = new Consumer(this, `Consumer-${route.name}`, {
        config,
        route,
        key,
        observability: this.observability,
        environment: wired?.environment ?? {},
      });
      wired?.grant(consumer.handler);
      this.events.route(route, consumer.queue, consumer.dlq);
      this.observability.addConsumerRow(route.name, consumer.queue, consumer.dlq);
      this.consumers.set(route.name, consumer);
    }
    this.schemaRegistry = new SchemaRegistry(this, 'SchemaRegistry', {
      config,
      documents: props.schemaDocuments,
      source: routing.source,
    });

    // Commands of internal services: a rule of its own (every source but taskstream's),
    // applied to the table as the tenant each source maps to.
    if (handlers.inbound.includes(TASK_INGEST)) {
      const commands = commandTypes(props.schemaDocuments, routing.source);
      if (commands.length === 0) {
        throw new Error(`no command documents in ${config.registryDir}: the ingest would have nothing to route`);
      }
      const ingest = new Consumer(this, `Consumer-${TASK_INGEST}`, {
        config,
        route: { name: TASK_INGEST, detailTypes: commands },
        key,
        observability: this.observability,
        environment: { ...tableEnv, INGEST_SOURCES: ingestSourcesEnv(config.ingestSources) },
      });
      // Reads tasks and external keys, writes tasks, comments, links and receipts.
      this.data.grantReadWrite(ingest.handler.function);
      this.events.routeCommands(TASK_INGEST, commands, ingest.queue, ingest.dlq);
      this.observability.addConsumerRow(TASK_INGEST, ingest.queue, ingest.dlq);
      this.ingest = ingest;
      if (config.ingestSources.length === 0) {
        Annotations.of(this).addWarningV2(
          'taskstream:ingest-without-sources',
          'no ingestSources are configured: every command published on the bus is dead-lettered as from an unmapped ' +
            'source. Map each service\'s source to its tenant, e.g. -c ingestSources=integrations.git=acme.',
        );
      }
    }
    this.warnUndeployed(config);

    new CfnOutput(this, 'ApiUrl', { value: this.api.restApi.url });
    new CfnOutput(this, 'TenantApiKeys', {
      description: 'Each tenant and the id of its API key (read the value with aws apigateway get-api-key --include-value)',
      value: this.toJsonString(Object.fromEntries([...this.api.apiKeys].map(([tenant, k]) => [tenant, k.keyId]))),
    });
    new CfnOutput(this, 'UserPoolId', { value: this.api.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.api.userPoolClient.userPoolClientId });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'EventBusName', { value: this.events.bus.eventBusName });
    new CfnOutput(this, 'SchemaRegistryName', { value: this.schemaRegistry.registryName });
    new CfnOutput(this, 'SearchEndpoint', { value: this.search.endpoint });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn });
  }

  /** Warn about what the handler crates and the routing table disagree on; neither stops a deploy. */
  private warnUndeployed(config: TaskstreamConfig): void {
    const { withoutCrate, unrouted } = this.handlers;
    if (withoutCrate.length > 0) {
      Annotations.of(this).addWarningV2(
        'taskstream:consumer-without-handler',
        `routed consumers without a handler crate in ${config.handlersDir} are not deployed: ${withoutCrate.join(', ')}. ` +
          `Their events are still archived in ${this.events.busName} (for ${config.archiveRetentionDays} days); ` +
          "once a consumer's handler is deployed, replay the archive into its rule to backfill it (cdk/README.md).",
      );
    }
    if (unrouted.length > 0) {
      Annotations.of(this).addWarningV2(
        'taskstream:handler-without-route',
        `handler crates in ${config.handlersDir} that no consumer of the routing table names are not deployed: ` +
          `${unrouted.join(', ')}. No event would reach them; add them to the routing table (events-schema) or remove them.`,
      );
    }
  }
}
