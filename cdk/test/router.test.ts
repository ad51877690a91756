import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import {
  ROUTER_FAILURE_RETENTION,
  ROUTER_MAX_RECORD_AGE,
  ROUTER_RESERVED_CONCURRENCY,
  ROUTER_RETRY_ATTEMPTS,
} from '../lib/constructs/router';
import { logicalIds, referencedId, synthOnce } from './support/synth';

const s = synthOnce('default');
const { template } = s;

const mappings = logicalIds(s, 'AWS::Lambda::EventSourceMapping').map((id) => s.resources[id]!.Properties!);
const streamMappings = mappings.filter((m) => JSON.stringify(m.EventSourceArn).includes('StreamArn'));
const [routerMapping] = streamMappings;
const routerFnId = referencedId(routerMapping?.FunctionName);
const routerFn = routerFnId === undefined ? undefined : s.resources[routerFnId];
const routerPolicy = Object.values(s.resources).find(
  (r) => r.Type === 'AWS::IAM::Policy' && referencedId(r.Properties?.Roles?.[0]) === referencedId(routerFn?.Properties?.Role),
);

describe('event source mappings', () => {
  it('exist for the router and every queue', () => {
    assert.ok(mappings.length > 1);
  });

  it('bound the concurrency of every queue consumer (maxConcurrency)', () => {
    const queueMappings = mappings.filter((m) => !JSON.stringify(m.EventSourceArn).includes('StreamArn'));
    assert.ok(queueMappings.length > 0);
    for (const m of queueMappings) {
      const max = m.ScalingConfig?.MaximumConcurrency as number;
      assert.ok(Number.isInteger(max) && max >= 2 && max <= 1000, `${JSON.stringify(m.EventSourceArn)}: ${max}`);
    }
  });

  it('all report batch item failures', () => {
    for (const m of mappings) {
      assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures'], JSON.stringify(m.EventSourceArn));
    }
  });
});

describe('stream router', () => {
  it('reads the table stream with exactly one mapping', () => {
    assert.equal(streamMappings.length, 1);
    assert.equal(routerFn?.Properties?.FunctionName, 'dev-taskstream-stream-router');
  });

  it('has concurrency reserved for it alone, so the API cannot starve it', () => {
    assert.equal(routerFn?.Properties?.ReservedConcurrentExecutions, ROUTER_RESERVED_CONCURRENCY);
    assert.ok(ROUTER_RESERVED_CONCURRENCY >= 1 && ROUTER_RESERVED_CONCURRENCY <= 100);
    const api = Object.values(s.resources).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-task-api',
    );
    assert.ok(api, 'no task-api function');
    assert.equal(api.Properties?.ReservedConcurrentExecutions, undefined, 'only the router reserves');
  });

  it('bisects failing batches, retries a bounded number of times, and bounds record age', () => {
    assert.equal(routerMapping?.BisectBatchOnFunctionError, true);
    const retries = routerMapping?.MaximumRetryAttempts as number;
    assert.ok(Number.isInteger(retries) && retries >= 0 && retries <= 100, `retries ${retries}`);
    assert.equal(retries, ROUTER_RETRY_ATTEMPTS);
    const age = routerMapping?.MaximumRecordAgeInSeconds as number;
    assert.ok(age >= 60 && age <= 86400, `record age ${age}`);
    assert.equal(age, ROUTER_MAX_RECORD_AGE.toSeconds());
  });

  it('writes exhausted batches, records included, to its failure bucket, which it may write to and list', () => {
    const bucketId = referencedId(routerMapping?.DestinationConfig?.OnFailure?.Destination);
    assert.ok(bucketId, 'no on-failure destination');
    assert.equal(s.resources[bucketId]?.Type, 'AWS::S3::Bucket');
    const statements = routerPolicy?.Properties?.PolicyDocument.Statement as Array<Record<string, any>>;
    const put = statements.find((st) => [st.Action].flat().includes('s3:PutObject'));
    assert.deepEqual([put?.Action].flat().sort(), ['s3:AbortMultipartUpload', 's3:PutObject']);
    assert.deepEqual(put?.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] });
    const list = statements.find((st) => [st.Action].flat().includes('s3:ListBucket'));
    assert.deepEqual(list?.Resource, { 'Fn::GetAtt': [bucketId, 'Arn'] });
    assert.ok(!statements.some((st) => [st.Action].flat().some((a: string) => a === 's3:DeleteObject' || a === 's3:GetObject')));
  });

  it('names its failure bucket by stage and account, as taskstream dlq --aws finds it', () => {
    const bucketId = referencedId(routerMapping?.DestinationConfig?.OnFailure?.Destination);
    assert.ok(bucketId, 'no on-failure destination');
    assert.deepEqual(s.resources[bucketId]?.Properties?.BucketName, {
      'Fn::Join': ['', ['dev-taskstream-stream-router-failures-', { Ref: 'AWS::AccountId' }]],
    });
  });

  it('keeps failed batches in a private, encrypted bucket for its retention only', () => {
    const bucketId = referencedId(routerMapping?.DestinationConfig?.OnFailure?.Destination);
    assert.ok(bucketId, 'no on-failure destination');
    const bucket = s.resources[bucketId]?.Properties as Record<string, any>;
    const [rule, ...others] = bucket.LifecycleConfiguration.Rules as Array<Record<string, any>>;
    assert.equal(others.length, 0);
    assert.equal(rule!.ExpirationInDays, ROUTER_FAILURE_RETENTION.toDays());
    assert.equal(rule!.Status, 'Enabled');
    assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const sse = bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault;
    assert.equal(sse.SSEAlgorithm, 'aws:kms');
  });

  it('parks poison records itself, whole, in its own DLQ', () => {
    const parkingId = logicalIds(s, 'AWS::SQS::Queue').find(
      (id) => s.resources[id]?.Properties?.QueueName === 'dev-taskstream-stream-router-dlq',
    );
    assert.ok(parkingId);
    assert.deepEqual(routerFn?.Properties?.Environment?.Variables?.ROUTER_DLQ_URL, { Ref: parkingId });
    const send = routerPolicy?.Properties?.PolicyDocument.Statement.find((st: any) => [st.Action].flat().includes('sqs:SendMessage'));
    assert.deepEqual(send?.Resource, { 'Fn::GetAtt': [parkingId, 'Arn'] });
  });

  it('puts events on the bus, and only on the bus, under its own source', () => {
    const busId = logicalIds(s, 'AWS::Events::EventBus')[0];
    const puts = routerPolicy?.Properties?.PolicyDocument.Statement.filter((st: any) =>
      [st.Action].flat().includes('events:PutEvents'),
    );
    assert.equal(puts?.length, 1);
    assert.deepEqual(puts?.[0].Resource, { 'Fn::GetAtt': [busId, 'Arn'] });
    assert.deepEqual(puts?.[0].Condition, { StringEquals: { 'events:source': ['taskstream'] } });
    assert.deepEqual(routerFn?.Properties?.Environment?.Variables?.EVENT_BUS_NAME, { Ref: busId });
  });

  it('alarms on iterator age', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: routerFnId } }],
      AlarmActions: Match.anyValue(),
    });
  });
});
