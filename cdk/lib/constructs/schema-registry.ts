import * as eventschemas from 'aws-cdk-lib/aws-eventschemas';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { SchemaDocument } from '../schema-documents';

export interface SchemaRegistryProps {
  readonly config: TaskstreamConfig;
  readonly documents: readonly SchemaDocument[];
  /** The source of taskstream's own events (the routing table's). */
  readonly source: string;
}

/**
 * A schema registry holding every event taskstream publishes and every command it takes in,
 * at their latest versions, from the committed registry documents: services in other
 * languages download code bindings from it (`aws schemas get-code-binding-source`).
 */
export class SchemaRegistry extends Construct {
  readonly registryName: string;
  readonly schemas = new Map<string, eventschemas.CfnSchema>();

  constructor(scope: Construct, id: string, props: SchemaRegistryProps) {
    super(scope, id);
    const { config, documents, source } = props;
    this.registryName = `${config.stage}-taskstream`;
    const registry = new eventschemas.CfnRegistry(this, 'Registry', {
      registryName: this.registryName,
      description: `taskstream ${config.stage}: the events it publishes and the commands it takes in`,
    });
    for (const doc of documents) {
      const kind = doc.source === source ? 'event' : 'command';
      const schema = new eventschemas.CfnSchema(this, `Schema-${doc.detailType}`, {
        registryName: this.registryName,
        // Events under taskstream's source; commands under the name services publish them to.
        schemaName: `${kind === 'event' ? source : `${source}.commands`}@${doc.detailType}`,
        type: 'OpenApi3',
        content: doc.content,
        description: kind === 'event' ? `taskstream's ${doc.detailType} event` : `the ${doc.detailType} command`,
      });
      schema.node.addDependency(registry);
      this.schemas.set(doc.detailType, schema);
    }
  }
}
