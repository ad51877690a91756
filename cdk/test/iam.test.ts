import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referencedId, type Synthesized, synthOnce } from './support/synth';

/**
 * Actions AWS does not let a policy scope to a resource, so `Resource: "*"` is the only way
 * to allow them. Anything else on `*` fails.
 */
const UNSCOPABLE: Record<string, string> = {
  'xray:PutTraceSegments': 'X-Ray has no resource-level permissions (active tracing).',
  'xray:PutTelemetryRecords': 'X-Ray has no resource-level permissions (active tracing).',
  'xray:GetSamplingRules': 'X-Ray has no resource-level permissions (Step Functions tracing).',
  'xray:GetSamplingTargets': 'X-Ray has no resource-level permissions (Step Functions tracing).',
  'dynamodb:ListStreams': 'ListStreams cannot be scoped; the stream reads themselves are.',
  'timestream:DescribeEndpoints': 'Timestream endpoint discovery cannot be scoped.',
  // Step Functions logging to CloudWatch Logs goes through vended-log delivery.
  'logs:CreateLogDelivery': 'vended-log delivery',
  'logs:GetLogDelivery': 'vended-log delivery',
  'logs:UpdateLogDelivery': 'vended-log delivery',
  'logs:DeleteLogDelivery': 'vended-log delivery',
  'logs:ListLogDeliveries': 'vended-log delivery',
  'logs:PutResourcePolicy': 'vended-log delivery',
  'logs:DescribeResourcePolicies': 'vended-log delivery',
  'logs:DescribeLogGroups': 'vended-log delivery',
};

/** The only AWS-managed policy a role may carry, and why. */
const MANAGED_POLICIES = [
  // The account-level role API Gateway writes its logs with.
  'AmazonAPIGatewayPushToCloudWatchLogs',
];

interface Statement {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/**
 * Object actions may name the objects of one of the stack's own buckets: all of them
 * (`<bucket ARN>/*`) or those under a fixed prefix (`<bucket ARN>/exports/*`).
 */
const OBJECT_ACTIONS = new Set(['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload']);

function isOwnBucketObjects(value: unknown, actions: string[], resources: Synthesized['resources']): boolean {
  const join = (value as Record<string, unknown> | null)?.['Fn::Join'] as [string, unknown[]] | undefined;
  if (!Array.isArray(join) || join[0] !== '' || join[1].length !== 2) return false;
  if (typeof join[1][1] !== 'string' || !/^\/([A-Za-z0-9_-]+\/)*\*$/.test(join[1][1])) return false;
  const bucket = referencedId(join[1][0]);
  return bucket !== undefined && resources[bucket]?.Type === 'AWS::S3::Bucket' && actions.every((a) => OBJECT_ACTIONS.has(a));
}

/** Every statement of every identity policy (inline on roles, or attached policy resources). */
function identityStatements(s: Synthesized): Array<{ where: string; statement: Statement }> {
  const out: Array<{ where: string; statement: Statement }> = [];
  for (const [id, r] of Object.entries(s.resources)) {
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') for (const p of r.Properties?.Policies ?? []) docs.push(p.PolicyDocument);
    for (const doc of docs) {
      for (const statement of (doc as { Statement: Statement[] }).Statement) out.push({ where: id, statement });
    }
  }
  return out;
}

/** True if the value names a resource of this template (Ref, GetAtt, or an ARN joined from one). */
function isOwnResource(value: unknown, resources: Synthesized['resources']): boolean {
  const ref = referencedId(value);
  if (ref !== undefined) return ref in resources;
  const join = (value as Record<string, unknown> | null)?.['Fn::Join'] as [string, unknown[]] | undefined;
  if (Array.isArray(join)) {
    const parts = join[1];
    const literals = parts.filter((p): p is string => typeof p === 'string');
    return !literals.some((l) => l.includes('*')) && parts.some((p) => isOwnResource(p, resources));
  }
  return false;
}

/**
 * Stopping executions of one of the stack's own state machines: execution names are chosen
 * at run time, so the resource ends in `:*` after the machine's name (taken from its ARN).
 */
function isOwnExecutions(value: unknown, actions: string[], resources: Synthesized['resources']): boolean {
  if (actions.join() !== 'states:StopExecution') return false;
  const text = JSON.stringify(value);
  const machines = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
  return text.endsWith(':*"]]}') && text.includes(':execution:') && machines.some(([id]) => text.includes(`{"Ref":"${id}"}`));
}

/**
 * Webhook signing secrets: one per subscription, named at run time by tenant and id under the
 * stage's prefix, so the grant names the prefix; only the secret actions the code calls.
 */
const SECRET_ACTIONS = new Set([
  'secretsmanager:CreateSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:DeleteSecret',
]);

function isStageWebhookSecrets(value: unknown, actions: string[]): boolean {
  return (
    typeof value === 'string' &&
    /^arn:[^:]+:secretsmanager:[^:]+:[0-9]+:secret:[a-z]+\/taskstream\/webhooks\/\*$/.test(value) &&
    actions.every((a) => SECRET_ACTIONS.has(a))
  );
}

for (const variant of ['default', 'with-workflows'] as const) {
  describe(`least privilege (${variant})`, () => {
    const s = synthOnce(variant);
    const statements = identityStatements(s);

    it('finds the policies of every role', () => {
      assert.ok(statements.length > 20);
      if (variant === 'with-workflows') {
        assert.ok(statements.some(({ where }) => where.startsWith('Workflows')), 'no state machine policy');
      }
    });

    it('only allows; never NotAction or NotResource', () => {
      for (const { where, statement } of statements) {
        assert.equal(statement.Effect, 'Allow', where);
        assert.equal(statement.NotAction, undefined, where);
        assert.equal(statement.NotResource, undefined, where);
      }
    });

    it('names every action: no "*", no "service:*", no wildcard patterns', () => {
      for (const { where, statement } of statements) {
        for (const action of [statement.Action].flat()) {
          assert.equal(typeof action, 'string', where);
          assert.ok(!(action as string).includes('*'), `${where} allows ${action}`);
        }
      }
    });

    it("scopes every resource to the stack's own, except actions AWS cannot scope", () => {
      for (const { where, statement } of statements) {
        const actions = [statement.Action].flat() as string[];
        for (const resource of [statement.Resource].flat()) {
          if (resource === '*') {
            const unscopable = actions.filter((a) => !(a in UNSCOPABLE));
            assert.deepEqual(unscopable, [], `${where} allows ${unscopable.join(', ')} on *`);
          } else {
            assert.ok(
              isOwnResource(resource, s.resources) ||
                isOwnBucketObjects(resource, actions, s.resources) ||
                isOwnExecutions(resource, actions, s.resources) ||
                isStageWebhookSecrets(resource, actions),
              `${where}: ${JSON.stringify(resource)} is not a resource of this stack`,
            );
          }
        }
      }
    });

    it('attaches no AWS-managed policy except the API Gateway logging role', () => {
      for (const [id, r] of Object.entries(s.resources)) {
        if (r.Type !== 'AWS::IAM::Role') continue;
        for (const arn of r.Properties?.ManagedPolicyArns ?? []) {
          const name = JSON.stringify(arn).split('/').pop()?.replace(/["\]}]/g, '');
          assert.ok(MANAGED_POLICIES.includes(name ?? ''), `${id} attaches ${JSON.stringify(arn)}`);
        }
      }
    });

    it('grants no table action the code does not call (no Scan, DeleteItem, BatchWriteItem …)', () => {
      const called = new Set(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
      // Reading the stream, for the router's event source mapping.
      const stream = new Set(['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams']);
      for (const { where, statement } of statements) {
        for (const action of [statement.Action].flat() as string[]) {
          if (action.startsWith('dynamodb:')) {
            assert.ok(called.has(action) || stream.has(action), `${where} allows ${action}`);
          }
        }
      }
    });

    it('lets audit history only put history items (dynamodb:LeadingKeys)', () => {
      const fn = Object.values(s.resources).find(
        (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-audit-history',
      );
      const role = referencedId(fn?.Properties?.Role);
      const mine = identityStatements(s).filter(({ where }) => {
        const policy = s.resources[where];
        return policy?.Type === 'AWS::IAM::Policy' && referencedId(policy.Properties?.Roles?.[0]) === role;
      });
      const table = mine.filter(({ statement }) => [statement.Action].flat().some((a) => (a as string).startsWith('dynamodb:')));
      assert.equal(table.length, 1, JSON.stringify(table));
      const statement = table[0]!.statement;
      assert.deepEqual([statement.Action].flat(), ['dynamodb:PutItem']);
      assert.deepEqual(statement.Condition, {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['T#*#TASK#*#HIST'] },
      });
    });

    it('gives each function its own role', () => {
      const roles = Object.values(s.resources)
        .filter((r) => r.Type === 'AWS::Lambda::Function')
        .map((r) => referencedId(r.Properties?.Role));
      assert.equal(new Set(roles).size, roles.length);
    });
  });
}

describe('the least-privilege checks themselves', () => {
  const resources = { Table: { Type: 'AWS::DynamoDB::Table' } };
  it('accept Ref, GetAtt and ARNs joined from them', () => {
    assert.ok(isOwnResource({ Ref: 'Table' }, resources));
    assert.ok(isOwnResource({ 'Fn::GetAtt': ['Table', 'Arn'] }, resources));
    assert.ok(isOwnResource({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Table', 'Arn'] }, '/index/gsi1']] }, resources));
  });
  it("accept every object of an own bucket, for object actions only", () => {
    const own = { Bucket: { Type: 'AWS::S3::Bucket' }, ...resources };
    const objects = { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/*']] };
    assert.ok(isOwnBucketObjects(objects, ['s3:PutObject'], own));
    const prefixed = { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/exports/*']] };
    assert.ok(isOwnBucketObjects(prefixed, ['s3:GetObject'], own));
    const sloppy = { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/ex*/*']] };
    assert.ok(!isOwnBucketObjects(sloppy, ['s3:GetObject'], own));
    assert.ok(!isOwnBucketObjects(objects, ['s3:PutObject', 's3:DeleteObject'], own));
    assert.ok(!isOwnBucketObjects({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Table', 'Arn'] }, '/*']] }, ['s3:GetObject'], own));
  });
  it('reject other resources, literals and wildcards', () => {
    assert.ok(!isOwnResource({ Ref: 'Elsewhere' }, resources));
    assert.ok(!isOwnResource('arn:aws:dynamodb:us-east-1:123456789012:table/other', resources));
    assert.ok(!isOwnResource({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Table', 'Arn'] }, '/index/*']] }, resources));
  });
});
