import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { type Data, KEY_READ_ACTIONS, KEY_WRITE_ACTIONS } from './data';
import { type Events, WORKFLOW_SOURCE } from './events';
import { acknowledge, nagText } from '../nag';
import type { StateMachineFile } from '../state-machine-files';
import type { RustFunction } from './rust-function';

export interface WorkflowsProps {
  readonly config: TaskstreamConfig;
  readonly files: readonly StateMachineFile[];
  readonly events: Events;
  readonly data: Data;
}

/**
 * The service integrations a definition may use, and what each needs. A definition is given
 * permissions for exactly the integrations its Task states name, on taskstream's own
 * resources; anything else fails the synth instead of silently widening a role.
 */
type Grant = (machine: sfn.StateMachine, props: WorkflowsProps) => void;
const INTEGRATIONS: Record<string, Grant> = {
  // Under the workflows' own source only: taskstream's events come from the stream router alone.
  'events:putEvents': (m, p) => p.events.grantPublish(m, WORKFLOW_SOURCE),
  'dynamodb:getItem': (m, p) => p.data.grantItems(m, ['dynamodb:GetItem'], KEY_READ_ACTIONS),
  'dynamodb:putItem': (m, p) => p.data.grantItems(m, ['dynamodb:PutItem'], [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]),
  'dynamodb:updateItem': (m, p) =>
    p.data.grantItems(m, ['dynamodb:UpdateItem'], [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]),
};

/**
 * One Step Functions state machine per `state-machines/<name>.asl.json`. The definitions stay
 * thin (waits and hand-offs); the decisions live in the Rust consumers.
 *
 * Definitions refer to taskstream's resources through substitutions: `${EventBusName}`,
 * `${EventBusArn}`, `${TableName}` and `${Stage}`.
 */
export class Workflows extends Construct {
  readonly stateMachines = new Map<string, sfn.StateMachine>();

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const { config, files } = props;

    for (const file of files) {
      const stateMachineName = `${config.stage}-taskstream-${file.name}`;
      const logGroup = new logs.LogGroup(this, `${file.name}-Logs`, {
        // Step Functions writes through vended-log delivery; this prefix keeps the log
        // group's resource policy from growing with every state machine.
        logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
        retention: config.logRetention,
        removalPolicy: config.removalPolicy,
      });
      const machine = new sfn.StateMachine(this, file.name, {
        stateMachineName,
        stateMachineType: sfn.StateMachineType.STANDARD,
        definitionBody: sfn.DefinitionBody.fromString(file.text),
        definitionSubstitutions: {
          EventBusName: props.events.bus.eventBusName,
          EventBusArn: props.events.bus.eventBusArn,
          TableName: props.data.table.tableName,
          Stage: config.stage,
        },
        // Execution data is left out of the logs: it carries task content.
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
        tracingEnabled: true,
      });
      checkSources(file);
      for (const integration of taskIntegrations(file)) {
        const grant = INTEGRATIONS[integration];
        if (grant === undefined) {
          throw new Error(
            `state machine ${file.file} uses the "${integration}" integration, which taskstream grants no permissions for; ` +
              `supported: ${Object.keys(INTEGRATIONS).join(', ')} (extend INTEGRATIONS in lib/constructs/workflows.ts)`,
          );
        }
        grant(machine, props);
      }
      acknowledge(
        machine.role,
        'IAM5[Resource::*]',
        'Logging to CloudWatch Logs goes through vended-log delivery (logs:CreateLogDelivery, logs:DescribeResourcePolicies …) and X-Ray tracing uses xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets; none of these actions supports resource-level permissions.',
      );
      this.stateMachines.set(file.name, machine);
    }
  }

  /**
   * Let a consumer start executions of these state machines and stop them (a newer plan,
   * a finished task), and nothing else.
   */
  grantStartStop(fn: RustFunction): void {
    const stack = Stack.of(this);
    for (const machine of this.stateMachines.values()) {
      machine.grantStartExecution(fn.function);
      // The executions of this machine: its ARN with `execution` for `stateMachine`, and any
      // execution name (they are named at run time).
      const name = Arn.split(machine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName;
      const executions = `${stack.formatArn({ service: 'states', resource: 'execution', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME })}:*`;
      fn.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }));
      acknowledge(
        fn.role,
        `IAM5[Resource::${nagText(stack.resolve(executions))}]`,
        'StopExecution takes an execution ARN, and executions are named at run time (tenant, task and plan): the grant covers the executions of this one state machine and of no other.',
      );
    }
  }

  /** `{"<name>": "<arn>"}` for the handlers' environment. */
  arnsJson(): string {
    const arns: Record<string, string> = {};
    for (const [name, machine] of this.stateMachines) arns[name] = machine.stateMachineArn;
    return Stack.of(this).toJsonString(arns);
  }
}

/**
 * Every literal `Source` a definition puts on the bus must be the workflows' own: the bus
 * would refuse any other at run time (the grant's `events:source` condition), so the synth
 * says so first. A source chosen at run time (`Source.$`) meets that condition alone.
 */
export function checkSources(file: StateMachineFile): void {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
    } else if (typeof node === 'object' && node !== null) {
      const obj = node as Record<string, unknown>;
      const entries = (obj.Parameters as Record<string, unknown> | undefined)?.Entries;
      if (obj.Type === 'Task' && typeof obj.Resource === 'string' && obj.Resource.endsWith(':events:putEvents')) {
        for (const entry of Array.isArray(entries) ? entries : []) {
          const source = (entry as Record<string, unknown>).Source;
          if (source !== undefined && source !== WORKFLOW_SOURCE) {
            throw new Error(
              `state machine ${file.file} puts events with Source ${JSON.stringify(source)}; workflows publish as ` +
                `"${WORKFLOW_SOURCE}" (only the stream router publishes taskstream's own events)`,
            );
          }
        }
      }
      Object.values(obj).forEach(visit);
    }
  };
  visit(JSON.parse(file.text));
}

/** `service:action` of every Task state's optimised integration, e.g. `events:putEvents`. */
export function taskIntegrations(file: StateMachineFile): Set<string> {
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
    } else if (typeof node === 'object' && node !== null) {
      const obj = node as Record<string, unknown>;
      if (obj.Type === 'Task') {
        const resource = obj.Resource;
        // arn:<partition>:states:::<service>:<action>[.sync|.waitForTaskToken]
        const m = typeof resource === 'string' ? /^arn:[^:]+:states:::([a-z0-9-]+:[A-Za-z0-9:]+?)(?:\.[A-Za-z:0-9]+)?$/.exec(resource) : null;
        if (m === null) {
          throw new Error(
            `state machine ${file.file}: Task resource ${JSON.stringify(resource)} is not a service integration ARN (arn:aws:states:::<service>:<action>)`,
          );
        }
        found.add(m[1] as string);
      }
      Object.values(obj).forEach(visit);
    }
  };
  visit(JSON.parse(file.text));
  return found;
}
