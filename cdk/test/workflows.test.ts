import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CDK_ROOT } from '../lib/config';
import { EXAMPLE_STATE_MACHINES, FIXTURES, logicalIds, referencedId, synth, synthOnce } from './support/synth';

function aslFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.asl.json')).sort() : [];
}

function stateMachineNames(s: ReturnType<typeof synthOnce>): string[] {
  return logicalIds(s, 'AWS::StepFunctions::StateMachine')
    .map((id) => s.resources[id]?.Properties?.StateMachineName as string)
    .sort();
}

/** The StartExecution resources of the escalation consumer's role. */
function escalationStartTargets(s: ReturnType<typeof synthOnce>): unknown[] {
  const fn = Object.values(s.resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-escalation',
  );
  const roleId = referencedId(fn?.Properties?.Role);
  const policy = Object.values(s.resources).find(
    (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((x: unknown) => referencedId(x) === roleId),
  );
  return (policy?.Properties?.PolicyDocument.Statement ?? [])
    .filter((st: { Action: string | string[] }) => [st.Action].flat().some((a) => a.startsWith('states:')))
    .flatMap((st: { Action: string | string[]; Resource: unknown }) => {
      assert.deepEqual([st.Action].flat(), ['states:StartExecution']);
      return [st.Resource].flat();
    });
}

describe('workflows from state-machines/*.asl.json', () => {
  it('deploys one state machine per committed definition (none is fine)', () => {
    const files = aslFiles(path.join(CDK_ROOT, '../state-machines'));
    const s = synthOnce('default');
    assert.deepEqual(
      stateMachineNames(s),
      files.map((f) => `dev-taskstream-${f.replace(/\.asl\.json$/, '')}`),
    );
    assert.equal(escalationStartTargets(s).length, files.length);
  });

  describe('with example definitions', () => {
    const s = synthOnce('with-workflows');
    const files = aslFiles(EXAMPLE_STATE_MACHINES);
    const machineIds = logicalIds(s, 'AWS::StepFunctions::StateMachine');

    it('deploys one state machine per file', () => {
      assert.equal(files.length, 2);
      assert.deepEqual(
        stateMachineNames(s),
        files.map((f) => `dev-taskstream-${f.replace(/\.asl\.json$/, '')}`),
      );
    });

    it('deploys each definition as committed, with taskstream resources substituted in', () => {
      const busId = logicalIds(s, 'AWS::Events::EventBus')[0];
      const tableId = logicalIds(s, 'AWS::DynamoDB::Table')[0];
      for (const id of machineIds) {
        const props = s.resources[id]?.Properties;
        const name = (props?.StateMachineName as string).replace(/^dev-taskstream-/, '');
        assert.equal(props?.DefinitionString, fs.readFileSync(path.join(EXAMPLE_STATE_MACHINES, `${name}.asl.json`), 'utf8'));
        assert.deepEqual(props?.DefinitionSubstitutions, {
          EventBusName: { Ref: busId },
          EventBusArn: { 'Fn::GetAtt': [busId, 'Arn'] },
          TableName: { Ref: tableId },
          Stage: 'dev',
        });
      }
    });

    it('logs every execution and traces it', () => {
      for (const id of machineIds) {
        const props = s.resources[id]?.Properties;
        assert.equal(props?.LoggingConfiguration?.Level, 'ALL');
        assert.equal(props?.TracingConfiguration?.Enabled, true);
      }
    });

    it('gives each state machine its own role with just the integrations it uses', () => {
      const roleIds = machineIds.map((id) => referencedId(s.resources[id]?.Properties?.RoleArn));
      assert.equal(new Set(roleIds).size, machineIds.length);
      const actionsOf = (roleId: string | undefined) =>
        Object.values(s.resources)
          .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((x: unknown) => referencedId(x) === roleId))
          .flatMap((r) => r.Properties?.PolicyDocument.Statement.flatMap((st: { Action: string | string[] }) => [st.Action].flat()));
      const byName = new Map(
        machineIds.map((id, i) => [s.resources[id]?.Properties?.StateMachineName as string, actionsOf(roleIds[i])]),
      );
      const escalate = byName.get('dev-taskstream-escalate-overdue') ?? [];
      const remind = byName.get('dev-taskstream-remind-assignee') ?? [];
      assert.ok(escalate.includes('events:PutEvents'));
      assert.ok(!escalate.some((a: string) => a.startsWith('dynamodb:')), 'escalate-overdue never touches the table');
      assert.ok(remind.includes('dynamodb:GetItem') && remind.includes('events:PutEvents'));
      assert.ok(!remind.includes('dynamodb:PutItem'), 'remind-assignee only reads');
    });

    it('lets the escalation consumer start exactly these state machines', () => {
      const targets = escalationStartTargets(s).map(referencedId).sort();
      assert.deepEqual(targets, [...machineIds].sort());
    });

    it('tells the escalation consumer their ARNs by name', () => {
      const fn = Object.values(s.resources).find(
        (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-escalation',
      );
      const arns = JSON.stringify(fn?.Properties?.Environment?.Variables?.STATE_MACHINE_ARNS);
      for (const f of files) assert.ok(arns.includes(f.replace(/\.asl\.json$/, '')), arns);
      for (const id of machineIds) assert.ok(arns.includes(id), arns);
    });
  });

  it('refuses a definition using an integration it has no grant for', () => {
    assert.throws(
      () => synth({ stateMachinesDir: path.join(FIXTURES, 'unsupported-state-machines') }),
      /uses the "lambda:invoke" integration/,
    );
  });
});
