import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { ALL_HANDLERS, logicalIds, ROUTING, synth, synthOnce } from './support/synth';

const s = synthOnce('default');
const { template } = s;
const only = (type: string): string => {
  const ids = logicalIds(s, type);
  assert.equal(ids.length, 1, `${type}: ${ids.length}`);
  return ids[0] as string;
};
const fnNamed = (handler: string) =>
  Object.values(s.resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === `dev-taskstream-${handler}`);

describe('data', () => {
  it('is one on-demand table keyed pk/sk, with PITR, a both-images stream and the stage key', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const keyId = logicalIds(s, 'AWS::KMS::Key').find((id) => id.startsWith('StageKey'));
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'dev-taskstream',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
      DeletionProtectionEnabled: false,
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
  it('has the three indexes the store queries and TTL on expiresAt', () => {
    const index = (n: number) => ({
      IndexName: `gsi${n}`,
      KeySchema: [
        { AttributeName: `gsi${n}pk`, KeyType: 'HASH' },
        { AttributeName: `gsi${n}sk`, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [index(1), index(2), index(3)],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });
});

describe('functions', () => {
  it('deploys one arm64 provided.al2023 function per handler, each from its own asset', () => {
    const handlers = ALL_HANDLERS;
    template.resourceCountIs('AWS::Lambda::Function', handlers.length);
    const assets = new Set<string>();
    for (const handler of handlers) {
      const fn = fnNamed(handler);
      assert.ok(fn, `no function for ${handler}`);
      assert.equal(fn.Properties?.Runtime, 'provided.al2023');
      assert.deepEqual(fn.Properties?.Architectures, ['arm64']);
      assert.equal(fn.Properties?.Handler, 'bootstrap');
      assert.deepEqual(fn.Properties?.TracingConfig, { Mode: 'Active' });
      assets.add(JSON.stringify(fn.Properties?.Code));
    }
    assert.equal(assets.size, handlers.length);
  });
});

describe('api', () => {
  it('authorizes every method with the Cognito user pool and an API key', () => {
    const poolId = only('AWS::Cognito::UserPool');
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'COGNITO_USER_POOLS',
      ProviderARNs: [{ 'Fn::GetAtt': [poolId, 'Arn'] }],
    });
    const taskApiId = Object.keys(
      template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: 'dev-taskstream-task-api' } }),
    )[0] as string;
    const methods = logicalIds(s, 'AWS::ApiGateway::Method');
    assert.ok(methods.length >= 2);
    for (const id of methods) {
      const m = s.resources[id]?.Properties;
      assert.equal(m?.AuthorizationType, 'COGNITO_USER_POOLS', id);
      assert.equal(m?.ApiKeyRequired, true, id);
      assert.equal(m?.Integration?.Type, 'AWS_PROXY', id);
      assert.ok(JSON.stringify(m?.Integration?.Uri).includes(taskApiId), `${id} does not call the task API`);
    }
  });

  it('has one user pool group per role, and the tenant as an immutable custom attribute', () => {
    const poolId = only('AWS::Cognito::UserPool');
    const groups = Object.values(template.findResources('AWS::Cognito::UserPoolGroup'))
      .map((g) => (g as { Properties: { GroupName: string; UserPoolId: unknown } }).Properties);
    assert.deepEqual(groups.map((g) => g.GroupName).sort(), ['admin', 'member', 'viewer']);
    for (const g of groups) assert.deepEqual(g.UserPoolId, { Ref: poolId });
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      Schema: Match.arrayWith([Match.objectLike({ Name: 'tenant', Mutable: false })]),
    });
  });

  it('traces with X-Ray and writes access logs to its log group', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'dev',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/apigateway/dev-taskstream/access' });
  });

  it('is behind a web ACL', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { ResourceArn: Match.anyValue() });
  });

  it('lets the task API read and write the table and only read the search collection', () => {
    const policies = template.findResources('AWS::OpenSearchServerless::AccessPolicy');
    const texts = Object.values(policies).map((p) => JSON.stringify(p.Properties.Policy));
    const reader = texts.find((t) => t.includes('ApiHandlerRole'));
    const writer = texts.find((t) => t.includes('ConsumersearchindexerHandlerRole'));
    assert.ok(reader && writer);
    assert.ok(!reader.includes('WriteDocument') && !reader.includes('CreateIndex'), reader);
    assert.ok(writer.includes('WriteDocument'));
  });
});

describe('search, metrics, notifications', () => {
  it('creates a SEARCH collection with encryption and network policies', () => {
    template.hasResourceProperties('AWS::OpenSearchServerless::Collection', { Name: 'dev-taskstream', Type: 'SEARCH' });
    template.hasResourceProperties('AWS::OpenSearchServerless::SecurityPolicy', { Type: 'encryption' });
    template.hasResourceProperties('AWS::OpenSearchServerless::SecurityPolicy', { Type: 'network' });
  });

  it('creates the Timestream database and table with the stage retention', () => {
    template.hasResourceProperties('AWS::Timestream::Database', { DatabaseName: 'dev_taskstream' });
    template.hasResourceProperties('AWS::Timestream::Table', {
      RetentionProperties: { MemoryStoreRetentionPeriodInHours: '24', MagneticStoreRetentionPeriodInDays: '30' },
      MagneticStoreWriteProperties: { EnableMagneticStoreWrites: true },
    });
  });

  it('creates the SES sender identity from context', () => {
    template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'tasks@example.com' });
    const env = fnNamed('notifier')?.Properties?.Environment?.Variables;
    assert.equal(env?.SENDER_EMAIL, 'tasks@example.com');
  });

  it('invokes the notifier every minute, the clock of webhook retries, and lets it read the secrets', () => {
    const notifier = logicalIds(s, 'AWS::Lambda::Function').find(
      (id) => s.resources[id]?.Properties?.FunctionName === 'dev-taskstream-notifier',
    );
    const rules = Object.values(template.findResources('AWS::Events::Rule')).filter(
      (r) => r.Properties.ScheduleExpression !== undefined,
    );
    assert.equal(rules.length, 1, JSON.stringify(rules));
    assert.equal(rules[0]?.Properties.ScheduleExpression, 'rate(1 minute)');
    assert.deepEqual(rules[0]?.Properties.Targets.map((t: { Arn: unknown }) => t.Arn), [
      { 'Fn::GetAtt': [notifier, 'Arn'] },
    ]);
    const env = fnNamed('notifier')?.Properties?.Environment?.Variables;
    assert.equal(env?.WEBHOOK_SECRET_PREFIX, 'dev/taskstream/webhooks/');
  });

  it("lets the notifier list the pool's admin group, and nothing else of the pool", () => {
    const pool = logicalIds(s, 'AWS::Cognito::UserPool')[0];
    const env = fnNamed('notifier')?.Properties?.Environment?.Variables;
    assert.deepEqual(env?.USER_POOL_ID, { Ref: pool });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>,
    );
    const cognito = statements.filter((st) => [st.Action].flat().some((a) => a.startsWith('cognito-idp:')));
    assert.deepEqual(
      cognito.map((st) => [[st.Action].flat(), st.Resource]),
      [[['cognito-idp:ListUsersInGroup'], { 'Fn::GetAtt': [pool, 'Arn'] }]],
    );
  });

  it("lets the API manage the stage's webhook secrets, named at run time under its prefix", () => {
    // One secret per subscription, made by the API: none is a stack resource.
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const env = fnNamed('task-api')?.Properties?.Environment?.Variables;
    assert.equal(env?.WEBHOOK_SECRET_PREFIX, 'dev/taskstream/webhooks/');
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>,
    );
    const secrets = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('secretsmanager:')));
    assert.ok(secrets.length >= 1);
    for (const s of secrets) {
      assert.match(JSON.stringify(s.Resource), /:secret:dev\/taskstream\/webhooks\/\*"$/);
    }
    const all = new Set(secrets.flatMap((s) => [s.Action].flat()));
    assert.deepEqual([...all].sort(), [
      'secretsmanager:CreateSecret',
      'secretsmanager:DeleteSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
    ]);
  });
});

describe('observability', () => {
  it('sends every alarm to the one alarm topic', () => {
    const topicId = only('AWS::SNS::Topic');
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    assert.ok(alarms.length >= 2 * ROUTING.consumers.length + 1);
    for (const alarm of alarms) {
      assert.deepEqual(alarm.Properties.AlarmActions, [{ Ref: topicId }], alarm.Properties.AlarmName);
    }
  });

  it('tells on every DLQ alarm how to move the messages back to their own queue', () => {
    for (const c of ROUTING.consumers) {
      const name = `dev-taskstream-${c.name}`;
      const alarm = Object.values(s.resources).find(
        (r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties?.AlarmName === `${name}-dlq-not-empty`,
      );
      const text = JSON.stringify(alarm?.Properties?.AlarmDescription);
      assert.ok(text.includes('aws sqs start-message-move-task --source-arn '), `${c.name}: ${text}`);
      // Both ARNs are the stack's own queues: the consumer's DLQ, then its queue.
      const queueIds = logicalIds(s, 'AWS::SQS::Queue').filter((id) =>
        JSON.stringify(s.resources[id]?.Properties?.QueueName).includes(name),
      );
      const arns = [...text.matchAll(/"Fn::GetAtt\\?":\[\\?"([A-Za-z0-9]+)\\?",\\?"Arn\\?"\]/g)].map((m) => m[1]);
      assert.equal(arns.length, 2, `${c.name}: ${text}`);
      for (const id of arns) assert.ok(queueIds.includes(id as string), `${c.name}: ${id} is not its queue`);
    }
  });

  it('charts processed, failed and lag per consumer, router iterator age and API latency and errors', () => {
    const body = JSON.stringify(s.resources[only('AWS::CloudWatch::Dashboard')]?.Properties?.DashboardBody);
    for (const c of ROUTING.consumers) {
      for (const metric of ['Processed', 'Failed', 'LagMs']) {
        assert.ok(body.includes(`\\"Taskstream\\",\\"${metric}\\",\\"Consumer\\",\\"${c.name}\\"`), `${c.name} ${metric}`);
      }
    }
    for (const needle of ['IteratorAge', 'Latency', 'p50', 'p95', 'p99', '4XXError', '5XXError']) {
      assert.ok(body.includes(needle), needle);
    }
  });
});

describe('stages and context', () => {
  it('tags every taggable resource with project and stage', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      Tags: Match.arrayWith([{ Key: 'project', Value: 'taskstream' }, { Key: 'stage', Value: 'dev' }]),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Tags: Match.arrayWith([{ Key: 'project', Value: 'taskstream' }, { Key: 'stage', Value: 'dev' }]),
    });
  });

  it('protects and retains prod data, and prefixes every name with the stage', () => {
    const prod = synth({ stage: 'prod' });
    assert.equal(prod.stack.stackName, 'taskstream-prod');
    prod.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ TableName: 'prod-taskstream', DeletionProtectionEnabled: true }),
    });
    prod.template.hasResourceProperties('AWS::Events::EventBus', { Name: `prod-${ROUTING.bus}` });
    prod.template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 365 });
    prod.template.hasResourceProperties('AWS::Lambda::Function', {
      Tags: Match.arrayWith([{ Key: 'stage', Value: 'prod' }]),
    });
  });

  it('takes deletion protection and retention periods from context', () => {
    const custom = synth({
      deletionProtection: 'true',
      archiveRetentionDays: '7',
      timestreamMemoryRetentionHours: '12',
      timestreamMagneticRetentionDays: '90',
    });
    custom.template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    custom.template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 7 });
    custom.template.hasResourceProperties('AWS::Timestream::Table', {
      RetentionProperties: { MemoryStoreRetentionPeriodInHours: '12', MagneticStoreRetentionPeriodInDays: '90' },
    });
  });
});
