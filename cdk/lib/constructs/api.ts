import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { TASK_API } from '../handlers';
import { acknowledge } from '../nag';
import { ApiFirewall } from './api-firewall';
import type { Buckets } from './buckets';
import type { Observability } from './observability';
import { RustFunction } from './rust-function';

/** How long an export stays in its bucket; its presigned URL lives far shorter. */
export const EXPORT_RETENTION = Duration.days(1);
/** Where the task API writes exports (shared/aws/src/export.rs, `KEY_PREFIX`); its grants stop there. */
export const EXPORT_PREFIX = 'exports/';

export interface ApiProps {
  readonly config: TaskstreamConfig;
  readonly observability: Observability;
  readonly buckets: Buckets;
  readonly environment: Record<string, string>;
}

/**
 * The HTTP API: REST API Gateway in front of the task-api Lambda (one proxy integration; the
 * axum router inside does the routing). Callers need both a Cognito token, whose
 * `custom:tenant` claim scopes every read and write, and their tenant's API key, which
 * throttles each tenant on its own: API Gateway applies a usage plan's limits to each of its
 * keys separately, and the task API refuses a key that belongs to another tenant than the
 * token's (`TENANT_API_KEYS`), so no tenant can spend another's allowance.
 */
export class Api extends Construct {
  readonly handler: RustFunction;
  readonly userPool: cognito.UserPool;
  readonly userPoolClient: cognito.UserPoolClient;
  readonly restApi: apigw.RestApi;
  /** One plan per distinct tenant limit; each tenant's key belongs to exactly one. */
  readonly usagePlans = new Map<string, apigw.UsagePlan>();
  /** Each tenant's API key. */
  readonly apiKeys = new Map<string, apigw.IApiKey>();
  /** Where CSV exports are written; the API answers with a presigned URL to the object. */
  readonly exportBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { config, observability } = props;
    const name = `${config.stage}-taskstream`;

    this.userPool = new cognito.UserPool(this, 'Users', {
      userPoolName: name,
      // Accounts are created by administrators for people and services of the organisation.
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      // Threat protection blocks credential stuffing and compromised passwords.
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      customAttributes: {
        // Set once by the administrator who creates the user; the API never trusts a tenant
        // from the request itself.
        tenant: new cognito.StringAttribute({ mutable: false, minLen: 1, maxLen: 64 }),
      },
      deletionProtection: config.deletionProtection,
      removalPolicy: config.removalPolicy,
    });
    // The caller's role is its group: the task API maps cognito:groups to admin > member > viewer.
    for (const role of ['admin', 'member', 'viewer']) {
      new cognito.CfnUserPoolGroup(this, `Group-${role}`, {
        userPoolId: this.userPool.userPoolId,
        groupName: role,
        description: `taskstream ${role}s`,
      });
    }
    this.userPoolClient = this.userPool.addClient('Client', {
      userPoolClientName: name,
      authFlows: { userSrp: true },
      preventUserExistenceErrors: true,
      // Users may not change their own tenant.
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true, fullname: true }),
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
    });

    this.exportBucket = props.buckets.dataBucket('Exports', { purpose: 'exports', expireAfter: EXPORT_RETENTION });

    this.handler = new RustFunction(this, 'Handler', {
      config,
      handler: TASK_API,
      observability,
      environment: {
        ...props.environment,
        EXPORT_BUCKET: this.exportBucket.bucketName,
        EXPORT_LINK_SECONDS: String(config.exportLinkSeconds),
      },
    });
    // Multipart uploads and PutObject, and GetObject for the presigned links, under the prefix only.
    props.buckets.grantWrite(this.handler, this.exportBucket, { prefix: EXPORT_PREFIX });
    props.buckets.grantRead(this.handler, this.exportBucket, { prefix: EXPORT_PREFIX });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName: `/aws/apigateway/${name}/access`,
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });
    const authorizer = new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      authorizerName: name,
      cognitoUserPools: [this.userPool],
    });

    this.restApi = new apigw.RestApi(this, 'RestApi', {
      restApiName: name,
      description: `taskstream ${config.stage} HTTP API`,
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // API Gateway can only write logs through an account-wide role; it is kept when the
      // stack goes, because other stacks of the account may rely on the same setting.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: config.stage,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
      },
      defaultMethodOptions: {
        authorizer,
        authorizationType: apigw.AuthorizationType.COGNITO,
        apiKeyRequired: true,
      },
    });
    const integration = new apigw.LambdaIntegration(this.handler.function, { proxy: true });
    this.restApi.root.addMethod('ANY', integration);
    this.restApi.root.addProxy({ defaultIntegration: integration, anyMethod: true });

    // Key values are generated by API Gateway; an operator hands each tenant's services their
    // key (`aws apigateway get-api-key --api-key <id> --include-value`, ids in the stack's
    // TenantApiKeys output).
    const pairs: Array<[string, string]> = [];
    for (const { tenant, rateLimit, burstLimit } of config.tenants) {
      const limits = `${rateLimit}-${burstLimit}`;
      let plan = this.usagePlans.get(limits);
      if (plan === undefined) {
        plan = this.restApi.addUsagePlan(`UsagePlan-${limits}`, {
          name: `${name}-${rateLimit}rps-${burstLimit}burst`,
          description: `Tenants allowed ${rateLimit} requests/s (bursts of ${burstLimit}), each on its own key`,
          throttle: { rateLimit, burstLimit },
          apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
        });
        this.usagePlans.set(limits, plan);
      }
      // Not through restApi.addApiKey, which ties the key to the stage: the function's
      // environment names the key, so the stage (through its methods) would depend on itself.
      // The usage plan is what binds the key to the stage.
      const key = new apigw.ApiKey(this, `ApiKey-${tenant}`, {
        apiKeyName: `${name}-tenant-${tenant}`,
        description: `The API key of tenant ${tenant}: its services' calls are throttled on it`,
      });
      plan.addApiKey(key);
      this.apiKeys.set(tenant, key);
      pairs.push([key.keyId, tenant]);
    }
    // `[[keyId, tenant], …]`: the task API refuses a key used with another tenant's token.
    this.handler.function.addEnvironment('TENANT_API_KEYS', Stack.of(this).toJsonString(pairs));

    new ApiFirewall(this, 'Firewall', { name, stage: this.restApi.deploymentStage, ipRequestsPer5Minutes: config.ipRequestsPer5Minutes });

    acknowledge(
      this.restApi,
      'APIG2',
      'The proxy integration hands every request to the task API, which validates bodies and parameters itself and answers with the documented error shape ({"error": {code, message, details, correlationId}}); API Gateway models would duplicate that with a different error format.',
    );
    acknowledge(
      this.restApi,
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'API Gateway writes execution and access logs only through the account-level CloudWatch role; this AWS-managed policy is the one AWS documents for that role and is maintained by AWS.',
    );

    observability.alarm(this, 'ServerErrors', {
      alarmName: `${name}-api-5xx`,
      alarmDescription: 'The task API answered with 5xx errors.',
      metric: this.restApi.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  /**
   * Read who a tenant's admins are: the members of the pool's `admin` group (each user's
   * `custom:tenant` names its tenant). Nothing else of the pool.
   */
  grantListAdmins(fn: RustFunction): void {
    this.userPool.grant(fn.function, 'cognito-idp:ListUsersInGroup');
  }
}
