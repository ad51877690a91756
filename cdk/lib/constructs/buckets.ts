import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { acknowledge } from '../nag';
import type { RustFunction } from './rust-function';
import { KEY_READ_ACTIONS, KEY_WRITE_ACTIONS, type StageKey } from './stage-key';

export interface BucketsProps {
  readonly config: TaskstreamConfig;
  readonly key: StageKey;
}

export interface DataBucketProps {
  /** The bucket name after `<stage>-taskstream-` (an account id keeps it globally unique). */
  readonly purpose: string;
  /** Objects are deleted this long after they were written. */
  readonly expireAfter: Duration;
}

/**
 * The stage's S3 buckets for task data (the router's failed batches, CSV exports): encrypted
 * with the stage key, private, TLS only, each logging its requests to one access-log bucket.
 */
export class Buckets extends Construct {
  readonly accessLogs: s3.Bucket;
  private readonly config: TaskstreamConfig;
  private readonly key: StageKey;

  constructor(scope: Construct, id: string, props: BucketsProps) {
    super(scope, id);
    this.config = props.config;
    this.key = props.key;
    // S3 writes server access logs only to a bucket under S3-managed keys.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      ...this.removal(),
    });
  }

  /**
   * A bucket of task data under the stage key, named `<stage>-taskstream-<purpose>-<account>`
   * so that the operator's tools find it from the stage alone (`taskstream dlq --aws` lists
   * the buckets with that prefix), as they find queues and the bus.
   */
  dataBucket(id: string, props: DataBucketProps): s3.Bucket {
    return new s3.Bucket(this, id, {
      bucketName: `${this.config.stage}-taskstream-${props.purpose}-${Aws.ACCOUNT_ID}`,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key.key,
      // One data key per bucket instead of a KMS call per object.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: `${props.purpose}/`,
      lifecycleRules: [{ expiration: props.expireAfter, abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      ...this.removal(),
    });
  }

  /**
   * Let `fn` write objects into `bucket` (and list it, as Lambda's failure destination needs);
   * with `prefix`, only objects whose keys start with it.
   */
  grantWrite(fn: RustFunction, bucket: s3.Bucket, options: { list?: boolean; prefix?: string } = {}): void {
    const grantee = fn.function;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [bucket.arnForObjects(objectPattern(options.prefix))],
      }),
    );
    if (options.list === true) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      );
    }
    this.key.grantVia(grantee, 's3', [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]);
    this.acknowledgeObjects(fn, bucket, options.prefix);
  }

  /**
   * Let `fn` read objects of `bucket`, with `prefix` only those whose keys start with it (a
   * presigned URL carries its signer's rights).
   */
  grantRead(fn: RustFunction, bucket: s3.Bucket, options: { prefix?: string } = {}): void {
    fn.function.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects(objectPattern(options.prefix))] }),
    );
    this.key.grantVia(fn.function, 's3', KEY_READ_ACTIONS);
    this.acknowledgeObjects(fn, bucket, options.prefix);
  }

  /** Object actions name objects by key, and every key of a taskstream bucket is its own data. */
  private acknowledgeObjects(fn: RustFunction, bucket: s3.Bucket, prefix?: string): void {
    const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    acknowledge(
      fn.role,
      `IAM5[Resource::<${logicalId}.Arn>/${objectPattern(prefix)}]`,
      `${fn.handler} writes and reads objects under keys it chooses at run time (export names, Lambda's failure records) in a bucket that holds nothing else; the bucket ARN itself is fixed.`,
    );
  }

  /**
   * Prod keeps its buckets when the stack goes. Deleting a dev stack fails while a bucket
   * still holds objects; its lifecycle rules empty it within days (no emptying custom
   * resource, which would be one more function to run and secure).
   */
  private removal(): { removalPolicy: RemovalPolicy } {
    return { removalPolicy: this.config.removalPolicy };
  }
}

/** The object keys a grant covers: all of them, or those under `prefix` (e.g. `exports/`). */
function objectPattern(prefix: string | undefined): string {
  if (prefix === undefined) return '*';
  if (!/^([A-Za-z0-9_-]+\/)+$/.test(prefix)) {
    throw new Error(`an object prefix is folder names each ending in "/", got ${JSON.stringify(prefix)}`);
  }
  return `${prefix}*`;
}
