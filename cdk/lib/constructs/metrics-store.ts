import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as timestream from 'aws-cdk-lib/aws-timestream';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { RustFunction } from './rust-function';

export interface MetricsStoreProps {
  readonly config: TaskstreamConfig;
  /** The key of the task data; metrics are derived from it and share its classification. */
  readonly key: kms.IKey;
}

/** Where the metrics consumer writes task metrics (throughput, cycle time, velocity, SLA). */
export class MetricsStore extends Construct {
  readonly database: timestream.CfnDatabase;
  readonly table: timestream.CfnTable;
  readonly databaseName: string;
  readonly tableName = 'task_metrics';

  constructor(scope: Construct, id: string, props: MetricsStoreProps) {
    super(scope, id);
    const { config } = props;
    this.databaseName = `${config.stage}_taskstream`;

    this.database = new timestream.CfnDatabase(this, 'Database', {
      databaseName: this.databaseName,
      kmsKeyId: props.key.keyArn,
    });
    this.database.applyRemovalPolicy(config.removalPolicy);

    this.table = new timestream.CfnTable(this, 'Table', {
      databaseName: this.databaseName,
      tableName: this.tableName,
      retentionProperties: {
        MemoryStoreRetentionPeriodInHours: String(config.timestreamMemoryRetentionHours),
        MagneticStoreRetentionPeriodInDays: String(config.timestreamMagneticRetentionDays),
      },
      // Replays and DLQ redrives deliver events older than the memory store keeps; without
      // magnetic store writes Timestream would reject their records.
      magneticStoreWriteProperties: { EnableMagneticStoreWrites: true },
    });
    this.table.addResourceDependency(this.database);
    this.table.applyRemovalPolicy(config.removalPolicy);

    Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W3697',
      reason:
        'Timestream for LiveAnalytics is closed to new customers but keeps serving accounts that use it; the metrics store is behind a port in the Rust code, so moving it (e.g. to Timestream for InfluxDB) is an adapter change, not a redesign.',
    });
  }

  /** WriteRecords on this table only; endpoint discovery cannot be scoped. */
  grantWrite(fn: RustFunction): void {
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['timestream:WriteRecords'], resources: [this.table.attrArn] }),
    );
    fn.allowUnscoped(
      ['timestream:DescribeEndpoints'],
      'The Timestream SDK discovers its regional endpoint with timestream:DescribeEndpoints, which supports no resource-level permissions.',
    );
  }
}
