import { App, type AppProps, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config';
import { listHandlerCrates } from './handler-crates';
import { planHandlers } from './handlers';
import { loadRoutingTable } from './routing-table';
import { loadSchemaDocuments } from './schema-documents';
import { listStateMachineFiles } from './state-machine-files';
import { TaskstreamStack } from './taskstream-stack';

export interface TaskstreamApp {
  readonly app: App;
  readonly stack: TaskstreamStack;
}

/** The whole CDK app: one stack per stage, checked by cdk-nag's AWS Solutions pack on synth. */
export function createApp(props: AppProps = {}): TaskstreamApp {
  const app = new App(props);
  const config = readConfig(app.node);
  const routing = loadRoutingTable(config.routingFile);
  const handlers = planHandlers(routing, listHandlerCrates(config.handlersDir));
  const stateMachineFiles = listStateMachineFiles(config.stateMachinesDir);
  const schemaDocuments = loadSchemaDocuments(config.registryDir);

  const stack = new TaskstreamStack(app, `taskstream-${config.stage}`, {
    description: `taskstream event backbone (${config.stage})`,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    config,
    routing,
    handlers,
    stateMachineFiles,
    schemaDocuments,
  });

  // Cost allocation tags (activate them once in the Billing console).
  Tags.of(app).add('project', 'taskstream');
  Tags.of(app).add('stage', config.stage);

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
