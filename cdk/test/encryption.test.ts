import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logicalIds, referencedId, synthOnce } from './support/synth';

/** One customer-managed key per stage, on every store of task data. */
const s = synthOnce('default');
const stageKeyId = logicalIds(s, 'AWS::KMS::Key').find((id) => id.startsWith('StageKey'));
const keyArn = { 'Fn::GetAtt': [stageKeyId, 'Arn'] };
const of = (type: string) => logicalIds(s, type).map((id) => ({ id, props: s.resources[id]!.Properties! }));

describe('the stage key', () => {
  it('is one rotating customer-managed key with the stage alias', () => {
    assert.ok(stageKeyId, 'no stage key');
    assert.equal(s.resources[stageKeyId]?.Properties?.EnableKeyRotation, true);
    const alias = of('AWS::KMS::Alias').find((a) => referencedId(a.props.TargetKeyId) === stageKeyId);
    assert.equal(alias?.props.AliasName, 'alias/dev-taskstream');
  });

  it('encrypts the table (and so its stream)', () => {
    const [table] = of('AWS::DynamoDB::Table');
    assert.deepEqual(table?.props.SSESpecification, { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn });
  });

  it('encrypts the bus and its archive', () => {
    const [bus] = of('AWS::Events::EventBus');
    assert.deepEqual(bus?.props.KmsKeyIdentifier, keyArn);
    const [archive] = of('AWS::Events::Archive');
    assert.deepEqual(archive?.props.KmsKeyIdentifier, keyArn);
  });

  it('encrypts every queue and DLQ', () => {
    const queues = of('AWS::SQS::Queue');
    assert.ok(queues.length >= 3);
    for (const { props } of queues) {
      assert.deepEqual(props.KmsMasterKeyId, keyArn, props.QueueName);
      assert.equal(props.SqsManagedSseEnabled, undefined, props.QueueName);
    }
  });

  it('encrypts every bucket of task data (router failures, exports); only the access-log bucket is S3-managed', () => {
    const buckets = of('AWS::S3::Bucket');
    const byKey = buckets.filter(({ props }) =>
      JSON.stringify(props.BucketEncryption).includes(JSON.stringify(keyArn)),
    );
    assert.equal(byKey.length, 2, JSON.stringify(buckets.map((b) => b.id)));
    const others = buckets.filter((b) => !byKey.includes(b));
    assert.deepEqual(others.map((b) => b.id.startsWith('BucketsAccessLogs')), [true]);
    for (const { props } of byKey) {
      const rule = props.BucketEncryption.ServerSideEncryptionConfiguration[0];
      assert.equal(rule.ServerSideEncryptionByDefault.SSEAlgorithm, 'aws:kms');
      assert.equal(rule.BucketKeyEnabled, true);
      assert.ok(props.LoggingConfiguration?.DestinationBucketName, 'no access logs');
      assert.deepEqual(props.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
  });

  it('encrypts the search collection', () => {
    const policy = of('AWS::OpenSearchServerless::SecurityPolicy').find((p) => p.props.Type === 'encryption');
    const text = JSON.stringify(policy?.props.Policy);
    assert.ok(text.includes('\\"AWSOwnedKey\\":false'), text);
    assert.ok(text.includes(JSON.stringify(keyArn)), text);
  });

  it('encrypts the metrics store', () => {
    const [db] = of('AWS::Timestream::Database');
    assert.deepEqual(db?.props.KmsKeyId, keyArn);
  });

  it('lets EventBridge use the key for the bus, the archive and the queues it delivers to', () => {
    const statements = s.resources[stageKeyId!]?.Properties?.KeyPolicy.Statement as Array<Record<string, any>>;
    const forEvents = statements.filter((st) => JSON.stringify(st.Principal).includes('events.amazonaws.com'));
    const actions = new Set(forEvents.flatMap((st) => [st.Action].flat()));
    for (const action of ['kms:Decrypt', 'kms:GenerateDataKey']) assert.ok(actions.has(action), action);
  });
});
