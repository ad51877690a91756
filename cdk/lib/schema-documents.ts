import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * One document of `events-schema/registry/`: a detail-type's schema in the EventBridge schema
 * registry's OpenAPI 3 form, as `taskstream schema export --format eventbridge` writes it.
 */
export interface SchemaDocument {
  readonly detailType: string;
  /** `x-amazon-events-source`: the routing table's source for taskstream's own events. */
  readonly source: string;
  /** The document, exactly as committed. */
  readonly content: string;
}

/** Every `*.json` in `dir`, sorted by detail-type; none when the folder does not exist. */
export function loadSchemaDocuments(dir: string): SchemaDocument[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      const content = fs.readFileSync(file, 'utf8');
      let doc: any;
      try {
        doc = JSON.parse(content);
      } catch (e) {
        throw new Error(`schema document ${file} is not valid JSON: ${(e as Error).message}`);
      }
      const event = doc?.components?.schemas?.AWSEvent;
      const detailType = event?.['x-amazon-events-detail-type'];
      const source = event?.['x-amazon-events-source'];
      if (typeof detailType !== 'string' || !/^[A-Za-z][A-Za-z0-9]{0,63}$/.test(detailType)) {
        throw new Error(`schema document ${file} names no detail-type (components.schemas.AWSEvent)`);
      }
      if (`${detailType}.json` !== f) {
        throw new Error(`schema document ${file} is for ${detailType}; name it ${detailType}.json`);
      }
      if (typeof source !== 'string' || source === '') {
        throw new Error(`schema document ${file} names no source`);
      }
      return { detailType, source, content };
    });
}

/** The detail-types services publish in (commands): every document not under taskstream's own source. */
export function commandTypes(documents: readonly SchemaDocument[], taskstreamSource: string): string[] {
  return documents.filter((d) => d.source !== taskstreamSource).map((d) => d.detailType);
}
