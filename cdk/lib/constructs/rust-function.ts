import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { sizingFor } from '../handlers';
import { acknowledge } from '../nag';
import type { Observability } from './observability';

/** The root certificate bundle of the `provided.al2023` image (the `ca-certificates` package). */
export const AL2023_CA_BUNDLE = '/etc/pki/tls/certs/ca-bundle.crt';

export interface RustFunctionProps {
  readonly config: TaskstreamConfig;
  /** Every function alarms on its errors and its throttles. */
  readonly observability: Observability;
  /** The handler binary, `handlers/<name>` in the workspace. */
  readonly handler: string;
  readonly environment?: Record<string, string>;
  /** Concurrency set aside for this function alone (none when not given). */
  readonly reservedConcurrency?: number;
}

/**
 * One Rust handler binary on Lambda: arm64, `provided.al2023`, active tracing, its own log
 * group, a role that starts with nothing but writing to that log group, and alarms on its
 * errors and throttles.
 */
export class RustFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly handler: string;
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly throttlesAlarm: cloudwatch.Alarm;
  private readonly unscopedReasons: string[] = [];

  constructor(scope: Construct, id: string, props: RustFunctionProps) {
    super(scope, id);
    const { config, handler } = props;
    this.handler = handler;
    const sizing = sizingFor(handler);
    const functionName = `${config.stage}-taskstream-${handler}`;

    const assetDir = path.join(config.assetDir, handler);
    if (!fs.existsSync(path.join(assetDir, 'bootstrap'))) {
      throw new Error(
        `no Lambda binary for "${handler}" at ${assetDir}/bootstrap: build the handlers with ` +
          '`cargo lambda build --release --arm64` (see scripts/deploy) or point -c assetDir=… at a built tree',
      );
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });

    // An explicit role instead of the default one: the default attaches the managed
    // AWSLambdaBasicExecutionRole, which may write to every log group in the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `taskstream ${config.stage} ${handler}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new lambda.Function(this, 'Function', {
      functionName,
      description: `taskstream ${handler} (${config.stage})`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(assetDir),
      memorySize: sizing.memoryMiB,
      timeout: sizing.timeout,
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        TASKSTREAM_STAGE: config.stage,
        TASKSTREAM_HANDLER: handler,
        RUST_LOG: 'info',
        // The TLS clients (the SDK's, and the OpenSearch client's, which loads them while it
        // is built, during init) read the system's root certificates. With no variable set
        // they read the bundle file and then every file of the certificate directory; this
        // names the one bundle of the provided.al2023 image, read once. The runtime is fixed
        // above, so the path is too.
        SSL_CERT_FILE: AL2023_CA_BUNDLE,
        ...props.environment,
      },
    });

    this.acknowledgeUnscoped(
      'Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions.',
    );

    const period = Duration.minutes(5);
    // An invocation that fails as a whole: a panic, a timeout, an out-of-memory, a refused
    // start. Handled failures (a message dead-lettered, a 4xx answer) are not errors.
    this.errorsAlarm = props.observability.alarm(this, 'Errors', {
      alarmName: `${functionName}-errors`,
      alarmDescription: `${functionName} failed invocations as a whole (crash, timeout or failed start); see its log group ${this.logGroup.logGroupName}.`,
      metric: this.function.metricErrors({ period, statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    // Lambda refused to run it: the account's or the function's concurrency is exhausted.
    this.throttlesAlarm = props.observability.alarm(this, 'Throttles', {
      alarmName: `${functionName}-throttles`,
      alarmDescription: `Lambda throttled ${functionName}: the account's concurrency (or the mapping's maximum) is used up.`,
      metric: this.function.metricThrottles({ period, statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  /** Allow actions that AWS does not let a policy scope to a resource. */
  allowUnscoped(actions: string[], reason: string): void {
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: ['*'] }));
    this.acknowledgeUnscoped(reason);
  }

  /**
   * Record why this role holds a `Resource: *` statement. cdk-nag reports one finding per role
   * for all of them, so the reasons are collected into one acknowledgement (the last one wins).
   */
  acknowledgeUnscoped(reason: string): void {
    this.unscopedReasons.push(reason);
    acknowledge(this.role, 'IAM5[Resource::*]', this.unscopedReasons.join(' '));
  }
}
