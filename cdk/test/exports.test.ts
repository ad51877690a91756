import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_EXPORT_LINK_SECONDS } from '../lib/config';
import { EXPORT_PREFIX, EXPORT_RETENTION } from '../lib/constructs/api';
import { logicalIds, referencedId, synth, synthOnce, type Synthesized } from './support/synth';

/**
 * The CSV export on AWS: the task API writes each export to the export bucket and answers
 * with a presigned link (shared/aws/src/export.rs). The bucket keeps task data like the
 * table does; the function may touch only the objects under the export prefix.
 */
const s = synthOnce('default');
const exportBucketId = s.stack.getLogicalId(s.stack.api.exportBucket.node.defaultChild as never);
const stageKeyArn = { 'Fn::GetAtt': [logicalIds(s, 'AWS::KMS::Key').find((id) => id.startsWith('StageKey')), 'Arn'] };

function taskApi(of: Synthesized): Record<string, any> {
  const fn = Object.values(of.resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-task-api',
  );
  assert.ok(fn, 'no task-api function');
  return fn.Properties!;
}

/** Every statement of the policies attached to the task API's role. */
function taskApiStatements(): Array<Record<string, any>> {
  const role = referencedId(taskApi(s).Role);
  return Object.values(s.resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles as unknown[]).some((x) => referencedId(x) === role))
    .flatMap((r) => r.Properties!.PolicyDocument.Statement as Array<Record<string, any>>);
}

describe('the export bucket', () => {
  const bucket = s.resources[exportBucketId]!.Properties!;

  it('is encrypted with the stage key, one bucket key for all objects', () => {
    const rule = bucket.BucketEncryption.ServerSideEncryptionConfiguration[0];
    assert.deepEqual(rule.ServerSideEncryptionByDefault, { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: stageKeyArn });
    assert.equal(rule.BucketKeyEnabled, true);
  });

  it('expires exports after a day and drops abandoned uploads', () => {
    const [rule, ...others] = bucket.LifecycleConfiguration.Rules as Array<Record<string, any>>;
    assert.deepEqual(others, []);
    assert.equal(rule!.Status, 'Enabled');
    assert.equal(rule!.ExpirationInDays, EXPORT_RETENTION.toDays());
    assert.deepEqual(rule!.AbortIncompleteMultipartUpload, { DaysAfterInitiation: 1 });
  });

  it('blocks every kind of public access', () => {
    assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    assert.deepEqual(bucket.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });

  it('refuses any request that is not over TLS', () => {
    const policy = Object.values(s.resources).find(
      (r) => r.Type === 'AWS::S3::BucketPolicy' && referencedId(r.Properties?.Bucket) === exportBucketId,
    );
    const statements = policy?.Properties?.PolicyDocument.Statement as Array<Record<string, any>>;
    const tls = statements.find((st) => st.Effect === 'Deny' && JSON.stringify(st.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}');
    assert.ok(tls, JSON.stringify(statements));
    assert.equal(tls.Principal.AWS, '*');
    assert.equal(tls.Action, 's3:*');
  });
});

describe("the task API's access to exports", () => {
  const statements = taskApiStatements();
  const s3 = statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith('s3:')));

  it('names the bucket and its link lifetime in the environment', () => {
    const env = taskApi(s).Environment.Variables;
    assert.deepEqual(env.EXPORT_BUCKET, { Ref: exportBucketId });
    assert.equal(env.EXPORT_LINK_SECONDS, String(DEFAULT_EXPORT_LINK_SECONDS));
  });

  it('may write, abort and read objects under the export prefix only', () => {
    const prefixed = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [exportBucketId, 'Arn'] }, `/${EXPORT_PREFIX}*`]] };
    assert.deepEqual(
      s3.flatMap((st) => [st.Action].flat()).sort(),
      ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
    );
    for (const st of s3) {
      assert.equal(st.Effect, 'Allow');
      assert.deepEqual(st.Resource, prefixed, JSON.stringify(st));
    }
  });

  it('may use the stage key for S3 only', () => {
    const kms = statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith('kms:')));
    const viaS3 = kms.filter((st) => JSON.stringify(st.Condition ?? {}).includes('s3.'));
    assert.ok(viaS3.length > 0, JSON.stringify(kms));
    for (const st of viaS3) assert.deepEqual(st.Resource, stageKeyArn);
  });

  it('takes the link lifetime from context, within what a signature can keep', () => {
    assert.equal(taskApi(synth({ exportLinkSeconds: '60' })).Environment.Variables.EXPORT_LINK_SECONDS, '60');
    assert.throws(() => synth({ exportLinkSeconds: '7200' }), /exportLinkSeconds" must be a whole number from 1 to 3600/);
    assert.throws(() => synth({ exportLinkSeconds: '0' }), /exportLinkSeconds/);
  });
});
