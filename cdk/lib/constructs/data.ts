import { Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';

export interface DataProps {
  readonly config: TaskstreamConfig;
}

/** The table's secondary indexes; handlers receive their names as environment variables. */
export const GSI1 = 'gsi1';
export const GSI2 = 'gsi2';
const INDEXES = [GSI1, GSI2];
/**
 * Epoch seconds after which DynamoDB removes an item: soft-deleted aggregates (their delete
 * was one conditional write, so one stream record carrying the deleter's correlation id;
 * the router ignores the later removal) and expired idempotency records.
 */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * Item reads. Scan is deliberately absent: every read is scoped to the caller's tenant by
 * key, and a scan would cross tenants.
 */
export const TABLE_READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
/** Item writes (transactions are authorised per contained Put/Update/Delete/ConditionCheck). */
export const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

/**
 * What DynamoDB asks of the caller's key permissions. These are the named actions behind
 * the `kms:ReEncrypt*` / `kms:GenerateDataKey*` patterns of the CDK's own table grants,
 * without the key-pair variants a symmetric table key never uses.
 */
export const KEY_READ_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'];
export const KEY_WRITE_ACTIONS = [
  'kms:Encrypt',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
];

/**
 * The single table every write lands in. Its stream (old and new image) is the change log
 * the router turns into domain events.
 */
export class Data extends Construct {
  readonly table: dynamodb.Table;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const { config } = props;

    this.key = new kms.Key(this, 'TableKey', {
      description: `taskstream ${config.stage} table and stream`,
      enableKeyRotation: true,
      removalPolicy: config.removalPolicy,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      tableName: `${config.stage}-taskstream`,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The router derives events from the difference of both images.
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      deletionProtection: config.deletionProtection,
      removalPolicy: config.removalPolicy,
    });

    // Tasks by due date (undated last); the item writer decides what goes into
    // gsi1pk/gsi1sk (see shared/aws/src/dynamo/README.md).
    this.table.addGlobalSecondaryIndex({
      indexName: GSI1,
      partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Tasks by priority (critical first, newest first within one): a second sort order of
    // the same partition, which one index cannot give next to the due-date order of gsi1.
    this.table.addGlobalSecondaryIndex({
      indexName: GSI2,
      partitionKey: { name: 'gsi2pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi2sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }

  /** Read items of the table and query its indexes. */
  grantRead(grantee: iam.IGrantable): void {
    this.grantItems(grantee, TABLE_READ_ACTIONS, KEY_READ_ACTIONS);
  }

  /** Read and write items of the table and query its indexes. */
  grantReadWrite(grantee: iam.IGrantable): void {
    this.grantItems(grantee, [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS], [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]);
  }

  /**
   * Table actions on the table, Query on each named index (no `index/*`), and the key
   * actions only when DynamoDB makes the call on the grantee's behalf.
   */
  grantItems(grantee: iam.IGrantable, tableActions: string[], keyActions: string[]): void {
    iam.Grant.addToPrincipal({ grantee, actions: tableActions, resourceArns: [this.table.tableArn] });
    if (tableActions.includes('dynamodb:Query')) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['dynamodb:Query'],
        resourceArns: INDEXES.map((index) => `${this.table.tableArn}/index/${index}`),
      });
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: keyActions,
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}
