import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WORKFLOW_SOURCE } from '../lib/constructs/events';
import { checkSources } from '../lib/constructs/workflows';
import { logicalIds, referencedId, ROUTING, type Synthesized, synthOnce } from './support/synth';

interface Statement {
  Effect: string;
  Action?: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

/** Every identity-policy statement that allows events:PutEvents, with the role it is attached to. */
function putEventsGrants(s: Synthesized): Array<{ role: string; statement: Statement }> {
  const out: Array<{ role: string; statement: Statement }> = [];
  for (const r of Object.values(s.resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    for (const statement of r.Properties?.PolicyDocument.Statement as Statement[]) {
      if ([statement.Action].flat().includes('events:PutEvents')) {
        out.push({ role: referencedId(r.Properties?.Roles?.[0]) ?? '?', statement });
      }
    }
  }
  return out;
}

/** The role of the one function named `dev-taskstream-<handler>`. */
function roleOf(s: Synthesized, handler: string): string | undefined {
  const fn = Object.values(s.resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === `dev-taskstream-${handler}`,
  );
  return referencedId(fn?.Properties?.Role);
}

for (const variant of ['default', 'with-workflows'] as const) {
  describe(`a source-locked bus (${variant})`, () => {
    const s = synthOnce(variant);
    const busId = logicalIds(s, 'AWS::Events::EventBus')[0];
    const grants = putEventsGrants(s);

    it('names one source in every grant of events:PutEvents, on the bus alone', () => {
      assert.ok(grants.length >= (variant === 'with-workflows' ? 2 : 1), `${grants.length} grants`);
      for (const { role, statement } of grants) {
        assert.deepEqual([statement.Action].flat(), ['events:PutEvents'], role);
        assert.deepEqual(statement.Resource, { 'Fn::GetAtt': [busId, 'Arn'] }, role);
        const sources = statement.Condition?.StringEquals?.['events:source'];
        assert.ok(Array.isArray(sources) && sources.length === 1, `${role} may publish any source: ${JSON.stringify(statement)}`);
      }
    });

    it("lets the stream router alone publish taskstream's source; workflows publish their own", () => {
      const router = roleOf(s, 'stream-router');
      for (const { role, statement } of grants) {
        const [source] = statement.Condition?.StringEquals?.['events:source'] as string[];
        if (role === router) {
          assert.equal(source, ROUTING.source);
        } else {
          assert.notEqual(source, ROUTING.source, `${role} may publish ${source}`);
          assert.equal(source, WORKFLOW_SOURCE, role);
          assert.ok(s.resources[role]?.Properties?.AssumeRolePolicyDocument && role.startsWith('Workflows'), role);
        }
      }
      assert.equal(grants.filter((g) => g.role === router).length, 1);
    });

    it("denies taskstream's source to every other principal in the bus policy", () => {
      const policies = Object.values(s.resources).filter((r) => r.Type === 'AWS::Events::EventBusPolicy');
      assert.equal(policies.length, 1);
      const statement = policies[0]?.Properties?.Statement as Statement;
      assert.equal(statement.Effect, 'Deny');
      assert.deepEqual(statement.Principal, { AWS: '*' });
      assert.equal(statement.Action, 'events:PutEvents');
      assert.deepEqual(statement.Condition?.StringEquals, { 'events:source': [ROUTING.source] });
      assert.deepEqual(statement.Condition?.ArnNotEquals, {
        'aws:PrincipalArn': { 'Fn::GetAtt': [roleOf(s, 'stream-router'), 'Arn'] },
      });
      assert.deepEqual(policies[0]?.Properties?.EventBusName, { Ref: busId });
    });
  });
}

describe('state machine definitions', () => {
  const file = (source: unknown) => ({
    name: 'x',
    file: 'x.asl.json',
    text: JSON.stringify({
      StartAt: 'Put',
      States: {
        Put: {
          Type: 'Task',
          Resource: 'arn:aws:states:::events:putEvents',
          Parameters: { Entries: [{ EventBusName: 'b', Source: source, DetailType: 'd', 'Detail.$': '$' }] },
          End: true,
        },
      },
    }),
  });

  it("may not publish as the stream router: the synth refuses taskstream's source", () => {
    assert.throws(() => checkSources(file(ROUTING.source)), /workflows publish as "taskstream.workflows"/);
    assert.throws(() => checkSources(file('anything.else')), /Source "anything.else"/);
    checkSources(file(WORKFLOW_SOURCE));
  });
});
