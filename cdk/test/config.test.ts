import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { CDK_ROOT, readConfig } from '../lib/config';
import { parseRoutingTable } from '../lib/routing-table';
import { taskIntegrations } from '../lib/constructs/workflows';
import { FIXTURES, synth } from './support/synth';
import { tempDir } from './support/placeholder-assets';

describe('context', () => {
  it('rejects an unknown stage', () => {
    assert.throws(() => synth({ stage: 'staging' }), /context "stage" must be one of dev, prod/);
  });

  it('requires the sender address of the notifier', () => {
    assert.throws(() => synth({ senderEmail: undefined }), /context "senderEmail" is required/);
    assert.throws(() => synth({ senderEmail: 'not-an-address' }), /must be an email address/);
  });

  it('rejects malformed numbers and booleans', () => {
    assert.throws(() => synth({ archiveRetentionDays: 'a week' }), /archiveRetentionDays/);
    assert.throws(() => synth({ deletionProtection: 'yes' }), /deletionProtection/);
  });

  it('says how to build the handlers when their binaries are missing', () => {
    assert.throws(() => synth({ assetDir: tempDir('empty-assets') }), /cargo lambda build --release --arm64/);
  });

  it('resolves handlersDir, like the other paths, against the cdk folder rather than the working directory', () => {
    const cwd = process.cwd();
    process.chdir(tempDir('cwd'));
    try {
      const read = (context: Record<string, string>) =>
        readConfig(new App({ context: { senderEmail: 'tasks@example.com', ...context } }).node).handlersDir;
      assert.equal(read({}), path.resolve(CDK_ROOT, '../handlers'));
      assert.equal(read({ handlersDir: 'test/fixtures' }), path.join(CDK_ROOT, 'test/fixtures'));
    } finally {
      process.chdir(cwd);
    }
  });

  it('fails on a routing table that does not exist', () => {
    assert.throws(() => synth({ routingFile: path.join(FIXTURES, 'missing.json') }), /cannot read the routing table/);
  });
});

describe('routing table', () => {
  const valid = { bus: 'taskstream', source: 'taskstream', consumers: [{ name: 'audit-history', detailTypes: ['TaskCreated'] }] };

  it('accepts the generated shape', () => {
    assert.deepEqual(parseRoutingTable(valid, 'test'), valid);
  });

  it('rejects duplicates, bad names and empty detail-type lists', () => {
    const withConsumers = (consumers: unknown[]) => ({ ...valid, consumers });
    assert.throws(() => parseRoutingTable(withConsumers([valid.consumers[0], valid.consumers[0]]), 't'), /listed twice/);
    assert.throws(() => parseRoutingTable(withConsumers([{ name: 'Audit History', detailTypes: ['X'] }]), 't'), /name must match/);
    assert.throws(() => parseRoutingTable(withConsumers([{ name: 'audit', detailTypes: [] }]), 't'), /non-empty list/);
    assert.throws(() => parseRoutingTable({ ...valid, source: '' }, 't'), /"source"/);
  });
});

describe('state machine integrations', () => {
  const file = (states: unknown) => ({ name: 'x', file: 'x.asl.json', text: JSON.stringify({ StartAt: 'A', States: states }) });

  it('finds the integrations of Task states, nested ones included, without their suffix', () => {
    const found = taskIntegrations(
      file({
        A: { Type: 'Task', Resource: 'arn:aws:states:::events:putEvents.waitForTaskToken', Next: 'B' },
        B: {
          Type: 'Map',
          ItemProcessor: { StartAt: 'C', States: { C: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:getItem', End: true } } },
          End: true,
        },
      }),
    );
    assert.deepEqual([...found].sort(), ['dynamodb:getItem', 'events:putEvents']);
  });

  it('rejects a Task that calls something other than a service integration', () => {
    assert.throws(
      () => taskIntegrations(file({ A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:f', End: true } })),
      /not a service integration ARN/,
    );
  });
});
