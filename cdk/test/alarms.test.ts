import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROUTER_METRICS, ROUTER_DIMENSION } from '../lib/constructs/observability';
import { ROUTER_STALL_WINDOW } from '../lib/constructs/router';
import { logicalIds, referencedId, synthOnce } from './support/synth';

/** Alarms that notice a stall, not only a flood. */
const s = synthOnce('default');
const alarms = logicalIds(s, 'AWS::CloudWatch::Alarm').map((id) => s.resources[id]!.Properties!);
const functions = logicalIds(s, 'AWS::Lambda::Function');
const topicId = logicalIds(s, 'AWS::SNS::Topic')[0];
const routerFnId = functions.find((id) => s.resources[id]?.Properties?.FunctionName === 'dev-taskstream-stream-router');
const tableId = logicalIds(s, 'AWS::DynamoDB::Table')[0];

describe('alarms', () => {
  for (const metric of ['Errors', 'Throttles']) {
    it(`watch every function's ${metric}`, () => {
      assert.ok(functions.length >= 4);
      for (const fn of functions) {
        const found = alarms.filter(
          (a) =>
            a.Namespace === 'AWS/Lambda' &&
            a.MetricName === metric &&
            referencedId(a.Dimensions?.[0]?.Value) === fn &&
            a.Statistic === 'Sum' &&
            a.Threshold === 0 &&
            a.ComparisonOperator === 'GreaterThanThreshold',
        );
        assert.equal(found.length, 1, `${s.resources[fn]?.Properties?.FunctionName}: ${found.length} ${metric} alarms`);
        assert.deepEqual(found[0]?.AlarmActions, [{ Ref: topicId }]);
      }
    });
  }

  it('notice a stalled router: table writes without a single router invocation', () => {
    const stall = alarms.find((a) => a.AlarmName === 'dev-taskstream-stream-router-stalled');
    assert.ok(stall, 'no stall alarm');
    const expression = stall.Metrics.find((m: Record<string, unknown>) => m.Expression !== undefined);
    assert.equal(expression.Expression, 'IF(FILL(writes, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)');
    const metric = (id: string) => stall.Metrics.find((m: Record<string, any>) => m.Id === id)?.MetricStat;
    assert.equal(metric('writes').Metric.MetricName, 'ConsumedWriteCapacityUnits');
    assert.deepEqual(metric('writes').Metric.Dimensions, [{ Name: 'TableName', Value: { Ref: tableId } }]);
    assert.equal(metric('invocations').Metric.MetricName, 'Invocations');
    assert.deepEqual(metric('invocations').Metric.Dimensions, [{ Name: 'FunctionName', Value: { Ref: routerFnId } }]);
    for (const id of ['writes', 'invocations']) assert.equal(metric(id).Period, ROUTER_STALL_WINDOW.toSeconds());
    assert.equal(stall.Threshold, 1);
    assert.equal(stall.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.deepEqual(stall.AlarmActions, [{ Ref: topicId }]);
  });

  it('notice a batch Lambda gave up on (written to the failure bucket)', () => {
    const failed = alarms.find((a) => a.AlarmName === 'dev-taskstream-stream-router-failed-batches');
    assert.ok(failed);
    assert.equal(failed.MetricName, 'PutRequests');
    const bucket = failed.Dimensions.find((d: Record<string, unknown>) => d.Name === 'BucketName').Value;
    const bucketId = referencedId(bucket);
    assert.ok(bucketId);
    const metrics = s.resources[bucketId]?.Properties?.MetricsConfigurations;
    assert.deepEqual(metrics, [{ Id: 'EntireBucket' }]);
  });

  it("chart the router's own metrics (records, events, parked, resends, batch duration)", () => {
    const body = JSON.stringify(s.resources[logicalIds(s, 'AWS::CloudWatch::Dashboard')[0]!]?.Properties?.DashboardBody);
    for (const metric of ROUTER_METRICS) {
      assert.ok(body.includes(`\\"Taskstream\\",\\"${metric}\\",\\"${ROUTER_DIMENSION}\\",\\"stream-router\\"`), metric);
    }
  });
});
