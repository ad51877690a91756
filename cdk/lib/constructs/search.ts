import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as aoss from 'aws-cdk-lib/aws-opensearchserverless';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { RustFunction } from './rust-function';
import type { StageKey } from './stage-key';

export interface SearchProps {
  readonly config: TaskstreamConfig;
  readonly key: StageKey;
}

/** Data-plane permissions of the indexer: manage the task indexes and write documents. */
const WRITE_PERMISSIONS = [
  'aoss:CreateIndex',
  'aoss:UpdateIndex',
  'aoss:DescribeIndex',
  'aoss:ReadDocument',
  'aoss:WriteDocument',
];
/** Data-plane permissions of the API: query only. */
const READ_PERMISSIONS = ['aoss:DescribeIndex', 'aoss:ReadDocument'];

/**
 * Full-text search over tasks: an OpenSearch Serverless collection (type SEARCH).
 *
 * Why serverless and not a VPC domain: a VPC domain would put the indexer and the API into a
 * VPC, which then needs a NAT gateway or a set of interface endpoints (SQS, EventBridge,
 * DynamoDB, Secrets Manager, X-Ray …) for everything else those functions call, plus node
 * sizing, dedicated masters and blue/green upgrades to operate. A collection is reached with
 * SigV4 only, and its data access policies separate the indexer (write) from the API (read)
 * at index level, which a domain's single resource policy does not do as cleanly.
 */
export class Search extends Construct {
  readonly collection: aoss.CfnCollection;
  readonly collectionName: string;

  constructor(scope: Construct, id: string, props: SearchProps) {
    super(scope, id);
    const { config } = props;
    // Collection and policy names: at most 32 lower-case characters.
    this.collectionName = `${config.stage}-taskstream`;
    const collectionResource = [`collection/${this.collectionName}`];

    // Under the stage key, like every other copy of task data. OpenSearch Serverless uses it
    // through grants it makes itself; the functions need no key permissions for it.
    const encryption = new aoss.CfnSecurityPolicy(this, 'Encryption', {
      name: `${this.collectionName}-enc`,
      type: 'encryption',
      policy: Stack.of(this).toJsonString({
        Rules: [{ ResourceType: 'collection', Resource: collectionResource }],
        AWSOwnedKey: false,
        KmsARN: props.key.key.keyArn,
      }),
    });

    // The functions run outside a VPC, so the endpoint is reachable over the internet; every
    // request must still be SigV4-signed by a principal the data access policies name.
    const network = new aoss.CfnSecurityPolicy(this, 'Network', {
      name: `${this.collectionName}-net`,
      type: 'network',
      policy: JSON.stringify([
        { Rules: [{ ResourceType: 'collection', Resource: collectionResource }], AllowFromPublic: true },
      ]),
    });

    this.collection = new aoss.CfnCollection(this, 'Collection', {
      name: this.collectionName,
      type: 'SEARCH',
      description: `taskstream ${config.stage} task search`,
      // Standby replicas double the minimum capacity; only prod pays for them.
      standbyReplicas: config.stage === 'prod' ? 'ENABLED' : 'DISABLED',
    });
    this.collection.addResourceDependency(encryption);
    this.collection.addResourceDependency(network);
  }

  /** The HTTPS endpoint the functions talk to. */
  get endpoint(): string {
    return this.collection.attrCollectionEndpoint;
  }

  /** Let the indexer create the task indexes and write documents. */
  grantIndexing(fn: RustFunction): void {
    this.grant(fn, 'w', WRITE_PERMISSIONS);
  }

  /** Let the API search the task indexes. */
  grantSearching(fn: RustFunction): void {
    this.grant(fn, 'r', READ_PERMISSIONS);
  }

  // A collection is guarded twice: IAM must allow aoss:APIAccessAll on the collection, and
  // a data access policy must grant the principal the index permissions.
  private grant(fn: RustFunction, suffix: string, permissions: string[]): void {
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['aoss:APIAccessAll'], resources: [this.collection.attrArn] }),
    );
    new aoss.CfnAccessPolicy(this, `Access-${fn.handler}`, {
      name: `${this.collectionName}-${suffix}-${fn.handler}`.slice(0, 32),
      type: 'data',
      description: `${fn.handler}: ${permissions.join(', ')}`,
      policy: Stack.of(this).toJsonString([
        {
          Rules: [
            {
              ResourceType: 'index',
              Resource: [`index/${this.collectionName}/*`],
              Permission: permissions,
            },
          ],
          Principal: [fn.role.roleArn],
        },
      ]),
    });
  }
}
