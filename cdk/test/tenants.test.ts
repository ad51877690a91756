import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TENANT_BURST_LIMIT, DEFAULT_TENANT_RATE_LIMIT, readTenants } from '../lib/config';
import { logicalIds, referencedId, synth, synthOnce } from './support/synth';

/** Per-tenant throttling: every tenant calls with a key of its own, throttled on its own. */
const s = synthOnce('default');
const resources = (type: string) => logicalIds(s, type).map((id) => ({ id, props: s.resources[id]!.Properties! }));
const taskApi = Object.values(s.resources).find(
  (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.FunctionName === 'dev-taskstream-task-api',
);

/** tenant → { key id, plan id } from the template's keys and their plan attachments. */
function keysByTenant(): Map<string, { keyId: string; planId: string }> {
  const out = new Map<string, { keyId: string; planId: string }>();
  const attachments = resources('AWS::ApiGateway::UsagePlanKey');
  for (const { id, props } of resources('AWS::ApiGateway::ApiKey')) {
    const tenant = /^dev-taskstream-tenant-(.+)$/.exec(props.Name as string)?.[1];
    assert.ok(tenant, `key ${id} is named ${props.Name}, not after a tenant`);
    const plans = attachments.filter((a) => referencedId(a.props.KeyId) === id).map((a) => referencedId(a.props.UsagePlanId));
    assert.equal(plans.length, 1, `${tenant}'s key is in ${plans.length} usage plans`);
    out.set(tenant, { keyId: id, planId: plans[0] as string });
  }
  return out;
}

describe('per-tenant API throttling', () => {
  it('gives each configured tenant an API key of its own, and no key to anyone else', () => {
    const keys = keysByTenant();
    assert.deepEqual([...keys.keys()].sort(), ['acme', 'globex']);
    assert.equal(new Set([...keys.values()].map((k) => k.keyId)).size, 2);
  });

  it("throttles each key with its tenant's limits, on the API's stage", () => {
    const keys = keysByTenant();
    const plan = (tenant: string) => s.resources[keys.get(tenant)!.planId]!.Properties!;
    assert.deepEqual(plan('acme').Throttle, { RateLimit: DEFAULT_TENANT_RATE_LIMIT, BurstLimit: DEFAULT_TENANT_BURST_LIMIT });
    assert.deepEqual(plan('globex').Throttle, { RateLimit: 500, BurstLimit: 1000 });
    const apiId = logicalIds(s, 'AWS::ApiGateway::RestApi')[0];
    for (const tenant of ['acme', 'globex']) {
      assert.deepEqual(plan(tenant).ApiStages?.[0]?.ApiId, { Ref: apiId });
    }
  });

  it('shares a plan only between tenants of the same limits (API Gateway throttles each key on its own)', () => {
    const shared = synth({ tenants: 'a,b,c=50/100' });
    const plans = Object.values(shared.resources).filter((r) => r.Type === 'AWS::ApiGateway::UsagePlan');
    assert.deepEqual(
      plans.map((p) => `${p.Properties?.Throttle.RateLimit}/${p.Properties?.Throttle.BurstLimit}`).sort(),
      ['100/200', '50/100'],
    );
    assert.equal(Object.values(shared.resources).filter((r) => r.Type === 'AWS::ApiGateway::UsagePlanKey').length, 3);
  });

  it('tells the task API which tenant each key belongs to, so a key cannot serve another tenant', () => {
    const env = taskApi?.Properties?.Environment?.Variables?.TENANT_API_KEYS;
    const text = JSON.stringify(env);
    const keys = keysByTenant();
    for (const [tenant, { keyId }] of keys) {
      assert.ok(text.includes(`{\\"Ref\\":\\"${keyId}\\"}`) || text.includes(`"Ref":"${keyId}"`), `${tenant}: ${text}`);
      assert.ok(text.includes(`\\"${tenant}\\"`), `${tenant}: ${text}`);
    }
  });

  it('blocks a flood from one client address at the firewall', () => {
    const acl = resources('AWS::WAFv2::WebACL')[0]!.props;
    const rule = (acl.Rules as Array<Record<string, any>>).find((r) => r.Statement.RateBasedStatement !== undefined);
    assert.ok(rule, 'no rate-based rule');
    assert.deepEqual(rule.Action, { Block: {} });
    assert.equal(rule.Statement.RateBasedStatement.AggregateKeyType, 'IP');
    assert.equal(rule.Statement.RateBasedStatement.Limit, 60_000);
    const tighter = synth({ ipRequestsPer5Minutes: '1000' });
    const tighterAcl = Object.values(tighter.resources).find((r) => r.Type === 'AWS::WAFv2::WebACL')!.Properties!;
    assert.ok(JSON.stringify(tighterAcl.Rules).includes('"Limit":1000'));
  });

  it('reads tenants and their limits from context, refusing what API Gateway would', () => {
    assert.deepEqual(readTenants('acme, globex=5/10', 100, 200), [
      { tenant: 'acme', rateLimit: 100, burstLimit: 200 },
      { tenant: 'globex', rateLimit: 5, burstLimit: 10 },
    ]);
    assert.deepEqual(readTenants(undefined, 100, 200), []);
    assert.throws(() => readTenants('a#b', 1, 1), /tenant names/);
    assert.throws(() => readTenants('acme,acme', 1, 1), /twice/);
    assert.throws(() => readTenants('acme=0/10', 1, 1), /rate must be/);
    assert.throws(() => readTenants('acme=5', 1, 1), /tenant names/);
    const defaults = synth({ tenants: 'solo', tenantRateLimit: '7', tenantBurstLimit: '9' });
    const plan = Object.values(defaults.resources).find((r) => r.Type === 'AWS::ApiGateway::UsagePlan');
    assert.deepEqual(plan?.Properties?.Throttle, { RateLimit: 7, BurstLimit: 9 });
  });
});
