import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { CDK_ROOT, ingestSourcesEnv, readIngestSources } from '../lib/config';
import { TASK_INGEST } from '../lib/handlers';
import { commandTypes, loadSchemaDocuments } from '../lib/schema-documents';
import { ALL_HANDLERS, handlerCratesDir, logicalIds, ROUTING, referencedId, synth } from './support/synth';

const REGISTRY = path.join(CDK_ROOT, '../events-schema/registry');
const DOCUMENTS = loadSchemaDocuments(REGISTRY);
const COMMANDS = commandTypes(DOCUMENTS, ROUTING.source);

describe('the task ingest', () => {
  const s = synth({
    handlersDir: handlerCratesDir([...ALL_HANDLERS, TASK_INGEST]),
    ingestSources: 'integrations.git=acme, ci.builds@111122223333=globex',
  });
  const queueName = `dev-taskstream-${TASK_INGEST}`;
  const queueId = logicalIds(s, 'AWS::SQS::Queue').find((id) => s.resources[id]?.Properties?.QueueName === queueName);
  const dlqId = logicalIds(s, 'AWS::SQS::Queue').find((id) => s.resources[id]?.Properties?.QueueName === `${queueName}-dlq`);

  it('knows the commands from the committed registry documents', () => {
    assert.deepEqual(COMMANDS, ['TaskCommentRequested', 'TaskCreateRequested', 'TaskStatusRequested']);
  });

  it('deploys the handler with the source mapping, the table layout and its DLQ', () => {
    assert.ok(queueId && dlqId, 'its queue and DLQ');
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `dev-taskstream-${TASK_INGEST}`,
      Environment: {
        Variables: Match.objectLike({
          INGEST_SOURCES: 'integrations.git=acme,ci.builds@111122223333=globex',
          TABLE_NAME: Match.anyValue(),
          TABLE_TASK_SHARDS: '8',
          DLQ_URL: { Ref: dlqId },
        }),
      },
    });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it("is fed by a rule for the commands of every source but taskstream's own", () => {
    s.template.hasResourceProperties('AWS::Events::Rule', {
      Name: `dev-${ROUTING.bus}-${TASK_INGEST}`,
      EventPattern: {
        source: [{ 'anything-but': [ROUTING.source, 'taskstream.workflows'] }],
        'detail-type': COMMANDS,
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId, 'Arn'] }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } } })],
    });
  });

  it('may write the table, and is watched like a consumer', () => {
    assert.ok(s.stack.ingest !== undefined);
    const alarms = logicalIds(s, 'AWS::CloudWatch::Alarm').map((id) => s.resources[id]?.Properties?.AlarmName);
    assert.ok(alarms.includes(`${queueName}-dlq-not-empty`), 'DLQ alarm');
    const fn = Object.values(s.resources).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === `dev-taskstream-${TASK_INGEST}`,
    );
    const role = referencedId(fn?.Properties?.Role);
    const actions = Object.values(s.resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((x: unknown) => referencedId(x) === role))
      .flatMap((p) => (p.Properties?.PolicyDocument.Statement as Array<{ Action: string | string[] }>).flatMap((st) => [st.Action].flat()));
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'sqs:SendMessage']) {
      assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
    }
  });

  it('is not deployed without its crate', () => {
    const without = synth({ ingestSources: 'integrations.git=acme' });
    assert.equal(without.stack.ingest, undefined);
    assert.ok(!logicalIds(without, 'AWS::Lambda::Function').some((id) => without.resources[id]?.Properties?.FunctionName === `dev-taskstream-${TASK_INGEST}`));
  });
});

describe('ingest sources', () => {
  it('read source[@account]=tenant pairs, and write them back as the handler reads them', () => {
    const sources = readIngestSources('integrations.git=acme, ci.builds@111122223333=globex');
    assert.deepEqual(sources, [
      { source: 'integrations.git', tenant: 'acme' },
      { source: 'ci.builds', account: '111122223333', tenant: 'globex' },
    ]);
    assert.equal(ingestSourcesEnv(sources), 'integrations.git=acme,ci.builds@111122223333=globex');
    assert.deepEqual(readIngestSources(undefined), []);
  });

  for (const bad of ['taskstream=acme', 'taskstream.workflows=acme', 'aws.events=acme', 'git', 'git=', 'git@12=acme', 'a=acme,a=globex']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => readIngestSources(bad), /ingestSources/);
    });
  }
});

describe('the schema registry', () => {
  const s = synth();

  it('registers every committed document, events under taskstream and commands beside them', () => {
    const files = fs.readdirSync(REGISTRY).filter((f) => f.endsWith('.json'));
    assert.equal(DOCUMENTS.length, files.length);
    s.template.resourceCountIs('AWS::EventSchemas::Registry', 1);
    s.template.resourceCountIs('AWS::EventSchemas::Schema', files.length);
    s.template.hasResourceProperties('AWS::EventSchemas::Schema', {
      RegistryName: 'dev-taskstream',
      SchemaName: `${ROUTING.source}@TaskCreated`,
      Type: 'OpenApi3',
      Content: fs.readFileSync(path.join(REGISTRY, 'TaskCreated.json'), 'utf8'),
    });
    s.template.hasResourceProperties('AWS::EventSchemas::Schema', {
      SchemaName: `${ROUTING.source}.commands@TaskStatusRequested`,
      Content: fs.readFileSync(path.join(REGISTRY, 'TaskStatusRequested.json'), 'utf8'),
    });
  });
});
