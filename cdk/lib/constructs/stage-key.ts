import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';

export interface StageKeyProps {
  readonly config: TaskstreamConfig;
}

/**
 * What a caller asks of the key when a service encrypts or decrypts on its behalf. Named
 * actions, not the `kms:ReEncrypt*` / `kms:GenerateDataKey*` patterns of the CDK's own grants:
 * a symmetric key never uses the key-pair variants those patterns also allow.
 */
export const KEY_READ_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'];
export const KEY_WRITE_ACTIONS = [
  'kms:Encrypt',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
];

/** The services that encrypt task data with the stage key for taskstream's functions. */
export type KeyedService = 'dynamodb' | 'sqs' | 's3';

/**
 * The one customer-managed key of a stage: the table and its stream, the bus and its archive,
 * every queue and DLQ, the buckets and the search collection are encrypted with it, so one key
 * policy (and one CloudTrail trail of its use) covers all of a stage's task data, and
 * disabling it makes all of it unreadable at once.
 */
export class StageKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: StageKeyProps) {
    super(scope, id);
    const { config } = props;
    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${config.stage}-taskstream`,
      description: `taskstream ${config.stage}: table, stream, bus, archive, queues, buckets, search`,
      enableKeyRotation: true,
      removalPolicy: config.removalPolicy,
    });
  }

  /**
   * Let `grantee` use the key for data that `service` stores for it, and only through that
   * service (`kms:ViaService`): the role can never call KMS with the key directly.
   */
  grantVia(grantee: iam.IGrantable, service: KeyedService, actions: readonly string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...actions],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `${service}.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}
