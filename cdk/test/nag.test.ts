import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { synthOnce } from './support/synth';

for (const variant of ['default', 'with-workflows'] as const) {
  describe(`cdk-nag AwsSolutions (${variant})`, () => {
    // Synthesis itself throws when a validation plugin reports an unacknowledged error.
    const { report } = synthOnce(variant);
    const nag = report.pluginReports.find((r) => r.pluginName === 'AwsSolutions');

    it('ran the AwsSolutions pack', () => {
      assert.ok(nag, `plugins run: ${report.pluginReports.map((r) => r.pluginName).join(', ')}`);
    });

    it('reports no unacknowledged finding, error or warning', () => {
      const open = (nag?.violations ?? []).map(
        (v) => `${v.severity} ${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`,
      );
      assert.deepEqual(open, []);
      assert.equal(nag?.conclusion, 'success');
    });

    it('gives every acknowledgement a reason', () => {
      const acknowledged = nag?.suppressedViolations ?? [];
      assert.ok(acknowledged.length > 0);
      for (const v of acknowledged) {
        assert.match(v.acknowledgedId, /^AwsSolutions::AwsSolutions-/);
        assert.ok(v.reason.length >= 60, `${v.ruleName} at ${v.acknowledgedAt}: reason too thin: "${v.reason}"`);
      }
    });

    it('acknowledges only the rules the README explains', () => {
      // Object grants name their bucket by logical id; every bucket of the stack is alike here.
      const rules = new Set(
        (nag?.suppressedViolations ?? []).map((v) =>
          v.ruleName
            .replace(/<Buckets[A-Za-z0-9]+\.Arn>\/((?:[A-Za-z0-9_-]+\/)*)\*/, '<bucket>/$1*')
            .replace(/Resource::arn:[^:]*:states:.*:execution:.*:\*\]$/, 'Resource::<state machine>:execution:*]')
            .replace(/Resource::arn:[^:]*:secretsmanager:.*:secret:dev\/taskstream\/webhooks\/\*\]$/, 'Resource::<webhook secrets>/*]'),
        ),
      );
      assert.deepEqual(
        [...rules].sort(),
        [
          'AwsSolutions-APIG2',
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
          'AwsSolutions-IAM5[Resource::*]',
          'AwsSolutions-IAM5[Resource::<bucket>/*]',
          'AwsSolutions-IAM5[Resource::<bucket>/exports/*]',
          'AwsSolutions-IAM5[Resource::<state machine>:execution:*]',
          'AwsSolutions-IAM5[Resource::<webhook secrets>/*]',
          'AwsSolutions-SQS3',
        ],
      );
    });

    it('leaves no other validation plugin with open findings', () => {
      for (const plugin of report.pluginReports) {
        assert.deepEqual(
          plugin.violations.map((v) => `${plugin.pluginName}: ${v.severity} ${v.ruleName}`),
          [],
        );
      }
    });
  });
}
