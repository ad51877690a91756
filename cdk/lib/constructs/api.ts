import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { TASK_API } from '../handlers';
import { acknowledge } from '../nag';
import { ApiFirewall } from './api-firewall';
import type { Observability } from './observability';
import { RustFunction } from './rust-function';

/** Per API key: sustained requests per second and the burst above it. */
export const API_RATE_LIMIT = 1000;
export const API_BURST_LIMIT = 2000;

export interface ApiProps {
  readonly config: TaskstreamConfig;
  readonly observability: Observability;
  readonly environment: Record<string, string>;
}

/**
 * The HTTP API: REST API Gateway in front of the task-api Lambda (one proxy integration; the
 * axum router inside does the routing). Callers need both a Cognito token, whose
 * `custom:tenant` claim scopes every read and write, and an API key, which meters them.
 */
export class Api extends Construct {
  readonly handler: RustFunction;
  readonly userPool: cognito.UserPool;
  readonly userPoolClient: cognito.UserPoolClient;
  readonly restApi: apigw.RestApi;
  readonly usagePlan: apigw.UsagePlan;
  readonly apiKey: apigw.IApiKey;

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

    this.handler = new RustFunction(this, 'Handler', {
      config,
      handler: TASK_API,
      environment: props.environment,
    });

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

    this.usagePlan = this.restApi.addUsagePlan('UsagePlan', {
      name,
      description: 'Internal services of taskstream',
      throttle: { rateLimit: API_RATE_LIMIT, burstLimit: API_BURST_LIMIT },
      apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
    });
    // The key's value is generated by API Gateway; read it with `aws apigateway get-api-key --include-value`.
    this.apiKey = this.restApi.addApiKey('ApiKey', {
      apiKeyName: `${name}-internal`,
      description: 'Key of the internal services calling the taskstream API',
    });
    this.usagePlan.addApiKey(this.apiKey);

    new ApiFirewall(this, 'Firewall', { name, stage: this.restApi.deploymentStage });

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
}
