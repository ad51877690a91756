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

type Statement = { Action: string | string[]; Resource: unknown };

/** The statements of the escalation consumer's role. */
function escalationStatements(s: ReturnType<typeof synthOnce>): Statement[] {
  const fn = Object.values(s.resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-escalation',
  );
  const roleId = referencedId(fn?.Properties?.Role);
  return Object.values(s.resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((x: unknown) => referencedId(x) === roleId))
    .flatMap((r) => r.Properties?.PolicyDocument.Statement ?? []);
}

/** The resources the escalation consumer may call `action` on. */
function escalationTargets(s: ReturnType<typeof synthOnce>, action: string): unknown[] {
  return escalationStatements(s)
    .filter((st) => [st.Action].flat().includes(action))
    .flatMap((st) => {
      assert.deepEqual([st.Action].flat(), [action], 'states actions are granted one per statement');
      return [st.Resource].flat();
    });
}

/** The StartExecution resources of the escalation consumer's role. */
function escalationStartTargets(s: ReturnType<typeof synthOnce>): unknown[] {
  return escalationTargets(s, 'states:StartExecution');
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

  describe('the committed definitions (state-machines/)', () => {
    const s = synthOnce('default');
    const machineIds = logicalIds(s, 'AWS::StepFunctions::StateMachine');
    const idOf = (name: string) =>
      machineIds.find((id) => s.resources[id]?.Properties?.StateMachineName === `dev-taskstream-${name}`);

    it('deploys escalation.asl.json as committed, waiting and writing the table only', () => {
      const id = idOf('escalation');
      assert.ok(id, 'state-machines/escalation.asl.json is deployed');
      const props = s.resources[id]?.Properties;
      const text = fs.readFileSync(path.join(CDK_ROOT, '../state-machines/escalation.asl.json'), 'utf8');
      assert.equal(props?.DefinitionString, text);
      const roleId = referencedId(props?.RoleArn);
      const actions = Object.values(s.resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((x: unknown) => referencedId(x) === roleId))
        .flatMap((r) => r.Properties?.PolicyDocument.Statement.flatMap((st: Statement) => [st.Action].flat()));
      const table = actions.filter((a: string) => a.startsWith('dynamodb:'));
      assert.deepEqual(table, ['dynamodb:UpdateItem'], 'its one Task state is a conditional UpdateItem');
      assert.ok(!actions.some((a: string) => a.startsWith('events:')), 'it publishes nothing: the stream router does');
    });

    it('lets the escalation consumer start and stop its executions, and read and write items for plans and sprint closure', () => {
      const id = idOf('escalation');
      assert.deepEqual(escalationStartTargets(s).map(referencedId), [id]);
      const stops = escalationTargets(s, 'states:StopExecution');
      assert.equal(stops.length, 1);
      assert.match(JSON.stringify(stops[0]), /:execution:/);
      const table = escalationStatements(s)
        .flatMap((st) => [st.Action].flat())
        .filter((a) => a.startsWith('dynamodb:'))
        .sort();
      // Query (table and indexes) to list a closed sprint's tasks, Update for the store's
      // transactions; never a scan, a delete or a batch write.
      assert.deepEqual([...new Set(table)], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
      const indexQueries = escalationStatements(s).filter(
        (st) => [st.Action].flat().includes('dynamodb:Query') && JSON.stringify(st.Resource).includes('/index/'),
      );
      assert.equal(indexQueries.length, 1, 'Query on the named indexes');
    });
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
