import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { KEY_READ_ACTIONS, KEY_WRITE_ACTIONS, type StageKey } from './stage-key';

export { KEY_READ_ACTIONS, KEY_WRITE_ACTIONS } from './stage-key';

export interface DataProps {
  readonly config: TaskstreamConfig;
  readonly key: StageKey;
}

/**
 * The table's secondary indexes; handlers receive their names as environment variables.
 * Each holds one order of a tenant's tasks, spread over `taskShards` partitions per tenant.
 */
export const GSI1 = 'gsi1';
export const GSI2 = 'gsi2';
export const GSI3 = 'gsi3';
const INDEXES = [GSI1, GSI2, GSI3];
/**
 * Epoch seconds after which DynamoDB removes an item: soft-deleted aggregates (their delete
 * was one conditional write, so one stream record carrying the deleter's correlation id;
 * the router ignores the later removal) and expired idempotency records.
 */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * Item reads: what the store calls. Scan is absent: every read is scoped to the caller's
 * tenant by key, and a scan would cross tenants.
 */
export const TABLE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'];
/**
 * Item writes: what the store calls (a transaction is authorised per contained Put and
 * Update). No DeleteItem or BatchWriteItem: deletes are soft (an UpdateItem) and nothing
 * writes in batches.
 */
export const TABLE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem'];
/**
 * The partition keys of audit-history items (`T#{tenant}#TASK#{task}#HIST`). Tenants and ids
 * cannot hold `#` (the store escapes it), so no other item's key matches.
 */
export const HISTORY_PARTITIONS = 'T#*#TASK#*#HIST';

/**
 * The single table every write lands in. Its stream (old and new image) is the change log
 * the router turns into domain events.
 */
export class Data extends Construct {
  readonly table: dynamodb.Table;
  /** The stage key the table is encrypted with (also the key of everything derived from it). */
  readonly key: kms.IKey;
  private readonly stageKey: StageKey;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const { config } = props;
    this.stageKey = props.key;
    this.key = props.key.key;

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
    // gsi1pk/gsi1sk (see shared/aws/src/dynamo/README.md). Every index partition is one
    // shard of one tenant's tasks, so no tenant writes to a single partition.
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
    // Tasks newest first: tasks are items of their own (keyed by id), so this order needs an
    // index too.
    this.table.addGlobalSecondaryIndex({
      indexName: GSI3,
      partitionKey: { name: 'gsi3pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi3sk', type: dynamodb.AttributeType.STRING },
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
   * Append audit-history items and nothing else: PutItem only where the partition key is a
   * history partition (`dynamodb:LeadingKeys`), so the history consumer can neither change a
   * task nor read one.
   */
  grantHistoryAppend(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [HISTORY_PARTITIONS] } },
      }),
    );
    this.stageKey.grantVia(grantee, 'dynamodb', [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS]);
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
    this.stageKey.grantVia(grantee, 'dynamodb', keyActions);
  }
}
