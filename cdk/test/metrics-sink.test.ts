import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { synth } from './support/synth';

/** The metrics consumer's function and the environment the stack gives it. */
function metricsFunction(s: ReturnType<typeof synth>) {
  const fn = Object.values(s.resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties?.FunctionName ?? '').includes('metrics'),
  );
  assert.ok(fn, 'the metrics consumer is deployed');
  return fn.Properties?.Environment?.Variables as Record<string, unknown>;
}

function policies(s: ReturnType<typeof synth>): string {
  return JSON.stringify(Object.values(s.resources).filter((r) => r.Type === 'AWS::IAM::Policy'));
}

describe('metricsSink', () => {
  it('timestream (the default): the store, its name in the consumer, WriteRecords granted', () => {
    const s = synth();
    s.template.resourceCountIs('AWS::Timestream::Database', 1);
    s.template.resourceCountIs('AWS::Timestream::Table', 1);
    const env = metricsFunction(s);
    assert.equal(env.METRICS_SINK, 'timestream');
    assert.equal(env.TIMESTREAM_DATABASE, 'dev_taskstream');
    assert.equal(env.TIMESTREAM_TABLE, 'task_metrics');
    assert.ok(policies(s).includes('timestream:WriteRecords'));
  });

  it('none: the consumer still runs, and nothing of Timestream is created or granted', () => {
    const s = synth({ metricsSink: 'none' });
    for (const type of ['AWS::Timestream::Database', 'AWS::Timestream::Table', 'AWS::Timestream::ScheduledQuery']) {
      s.template.resourceCountIs(type, 0);
    }
    const env = metricsFunction(s);
    assert.equal(env.METRICS_SINK, 'none');
    assert.equal(env.TIMESTREAM_DATABASE, undefined);
    assert.ok(!JSON.stringify(s.resources).includes('timestream'), 'no Timestream resource, permission or name');
  });

  it('refuses any other sink', () => {
    assert.throws(() => synth({ metricsSink: 'influxdb' }), /metricsSink" must be one of timestream, none/);
  });
});
