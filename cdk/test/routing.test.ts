import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import {
  MAX_RECEIVE_COUNT,
  MAX_THROTTLED_RECEIVES,
  REDRIVE_RECEIVE_COUNT,
  VISIBILITY_FACTOR,
} from '../lib/constructs/consumer';
import { sizingFor } from '../lib/handlers';
import { ROUTING, synthOnce } from './support/synth';

const s = synthOnce('default');
const { template } = s;

/** The logical id of the one resource of `type` whose properties match `props`. */
function onlyId(type: string, props: Record<string, unknown>): string {
  const found = Object.keys(template.findResources(type, { Properties: Match.objectLike(props) }));
  assert.equal(found.length, 1, `expected one ${type} matching ${JSON.stringify(props)}, found ${found.length}`);
  return found[0] as string;
}

describe('routing: one rule, queue, DLQ and alarms per consumer of events-schema/routing.json', () => {
  it('reads a routing table with consumers', () => {
    assert.ok(ROUTING.consumers.length > 0);
  });

  it('has exactly one routing rule per consumer and no other', () => {
    // Besides them, only the notifier's clock: a schedule, not a pattern.
    const rules = Object.values(template.findResources('AWS::Events::Rule'));
    const routing = rules.filter((r) => r.Properties.EventPattern !== undefined);
    assert.equal(routing.length, ROUTING.consumers.length);
    assert.deepEqual(
      rules.filter((r) => r.Properties.EventPattern === undefined).map((r) => r.Properties.ScheduleExpression),
      ['rate(1 minute)'],
    );
  });

  it('names the bus after the routing table, prefixed with the stage', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: `dev-${ROUTING.bus}` });
  });

  for (const route of ROUTING.consumers) {
    describe(route.name, () => {
      const queueName = `dev-taskstream-${route.name}`;
      const queueId = onlyId('AWS::SQS::Queue', { QueueName: queueName });
      const dlqId = onlyId('AWS::SQS::Queue', { QueueName: `${queueName}-dlq` });

      it('has a rule matching its source and exactly its detail-types, targeting its queue', () => {
        const rules = template.findResources('AWS::Events::Rule', {
          Properties: { Name: `dev-${ROUTING.bus}-${route.name}` },
        });
        const [rule] = Object.values(rules);
        assert.ok(rule, `no rule for ${route.name}`);
        assert.deepEqual(rule.Properties.EventPattern, {
          source: [ROUTING.source],
          'detail-type': [...route.detailTypes],
        });
        assert.equal(rule.Properties.Targets.length, 1);
        assert.deepEqual(rule.Properties.Targets[0].Arn, { 'Fn::GetAtt': [queueId, 'Arn'] });
        // Undeliverable events go to the consumer's DLQ, where the DLQ alarm sees them.
        assert.deepEqual(rule.Properties.Targets[0].DeadLetterConfig, { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } });
      });

      it(`has a queue whose DLQ takes what the runtime could not park itself, one receive after it would have`, () => {
        template.hasResourceProperties('AWS::SQS::Queue', {
          QueueName: queueName,
          RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 21 },
        });
        assert.equal(REDRIVE_RECEIVE_COUNT, MAX_THROTTLED_RECEIVES + 1);
        assert.ok(MAX_THROTTLED_RECEIVES > MAX_RECEIVE_COUNT);
      });

      it('lets its function dead-letter a message itself, with the reason, on the last receive', () => {
        const fns = template.findResources('AWS::Lambda::Function', {
          Properties: { FunctionName: `dev-taskstream-${route.name}` },
        });
        const [fn] = Object.values(fns);
        assert.ok(fn, `no function for ${route.name}`);
        assert.deepEqual(fn.Properties.Environment.Variables.DLQ_URL, { Ref: dlqId });
        assert.equal(fn.Properties.Environment.Variables.MAX_RECEIVES, String(MAX_RECEIVE_COUNT));
        assert.equal(fn.Properties.Environment.Variables.MAX_THROTTLED_RECEIVES, String(MAX_THROTTLED_RECEIVES));
        // Throttled messages are backed off with ChangeMessageVisibility on their own queue.
        assert.deepEqual(fn.Properties.Environment.Variables.QUEUE_URL, { Ref: queueId });
        template.hasResourceProperties('AWS::IAM::Policy', {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Action: Match.arrayWith(['sqs:ChangeMessageVisibility']),
                Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
              }),
            ]),
          },
        });
        template.hasResourceProperties('AWS::IAM::Policy', {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlqId, 'Arn'] } }),
            ]),
          },
        });
      });

      it('encrypts both queues and refuses plain-HTTP access', () => {
        for (const id of [queueId, dlqId]) {
          assert.ok(s.resources[id]?.Properties?.KmsMasterKeyId, `${id} is not encrypted with the stage key`);
          template.hasResourceProperties('AWS::SQS::QueuePolicy', {
            Queues: Match.arrayWith([{ Ref: id }]),
            PolicyDocument: {
              Statement: Match.arrayWith([
                Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
              ]),
            },
          });
        }
      });

      it('gives the queue a visibility timeout of at least six times the function timeout', () => {
        const fn = Object.values(
          template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `dev-taskstream-${route.name}` } }),
        )[0];
        assert.ok(fn);
        const timeout = fn.Properties.Timeout as number;
        assert.equal(timeout, sizingFor(route.name).timeout.toSeconds());
        const visibility = s.resources[queueId]?.Properties?.VisibilityTimeout as number;
        assert.ok(visibility >= VISIBILITY_FACTOR * timeout, `${visibility} < 6 × ${timeout}`);
      });

      it('runs its handler from its queue, reporting batch item failures, at a bounded concurrency', () => {
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          ScalingConfig: { MaximumConcurrency: sizingFor(route.name).maxConcurrency },
        });
      });

      it('alarms on anything in the DLQ', () => {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 0,
          AlarmActions: Match.anyValue(),
        });
      });

      it('alarms on the age of the oldest message in its queue', () => {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: sizingFor(route.name).maxMessageAge.toSeconds(),
          AlarmActions: Match.anyValue(),
        });
      });
    });
  }

  it('archives every event on the bus for the configured number of days', () => {
    template.hasResourceProperties('AWS::Events::Archive', {
      RetentionDays: 30,
      EventPattern: { account: ['123456789012'] },
    });
  });
});
