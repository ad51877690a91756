import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AL2023_CA_BUNDLE } from '../lib/constructs/rust-function';
import { listHandlerCrates } from '../lib/handler-crates';
import { INBOUND_HANDLERS, planHandlers, REQUIRED_HANDLERS, STREAM_ROUTER, TASK_API, TASK_INGEST } from '../lib/handlers';
import { DEFAULT_HANDLERS_DIR, tempDir, writePlaceholderAssets } from './support/placeholder-assets';
import {
  ALL_HANDLERS,
  EXAMPLE_STATE_MACHINES,
  handlerCratesDir,
  logicalIds,
  placeholderAssetDir,
  ROUTING,
  synth,
  type Synthesized,
} from './support/synth';

// What the workspace holds, read here without the code under test. Nothing below names a
// consumer: the expectations follow whichever crates exist.
const crates = fs.readdirSync(DEFAULT_HANDLERS_DIR).filter((n) => fs.existsSync(path.join(DEFAULT_HANDLERS_DIR, n, 'Cargo.toml')));
const routed = ROUTING.consumers.map((c) => c.name);
const deployed = routed.filter((n) => crates.includes(n));
const skipped = routed.filter((n) => !crates.includes(n));
const inbound = INBOUND_HANDLERS.filter((n) => crates.includes(n));
const unrouted = crates.filter((n) => !routed.includes(n) && !REQUIRED_HANDLERS.includes(n) && !inbound.includes(n));

const CONSUMER_WITHOUT_HANDLER = 'taskstream:consumer-without-handler';
const HANDLER_WITHOUT_ROUTE = 'taskstream:handler-without-route';

const stackWarnings = new WeakMap<Synthesized, string[]>();
/** The stack's warnings with the given id (the id is appended to each message as `[ack: id]`). */
function warnings(s: Synthesized, id: string): string[] {
  // Reading the annotations synthesizes the app once more; once per synth is enough.
  let all = stackWarnings.get(s);
  if (all === undefined) {
    all = Annotations.fromStack(s.stack).findWarning('*', Match.anyValue()).map((m) => String(m.entry.data));
    stackWarnings.set(s, all);
  }
  return all.filter((w) => w.endsWith(`[ack: ${id}]`));
}

function functionNames(s: Synthesized): string[] {
  return logicalIds(s, 'AWS::Lambda::Function')
    .map((id) => (s.resources[id]?.Properties?.FunctionName as string).replace(/^dev-taskstream-/, ''))
    .sort();
}

function named(s: Synthesized, type: string, name: string, property: string): boolean {
  return logicalIds(s, type).some((id) => s.resources[id]?.Properties?.[property] === name);
}

describe("with the workspace's handlers/: exactly the routed consumers that have a crate", () => {
  const s = synth({ handlersDir: DEFAULT_HANDLERS_DIR });

  it('finds the crates of the API and the router', () => {
    for (const handler of REQUIRED_HANDLERS) assert.ok(crates.includes(handler), handler);
  });

  it('deploys a function for the API, the router, each routed consumer and each inbound handler with a crate, and no other', () => {
    assert.deepEqual(functionNames(s), [...REQUIRED_HANDLERS, ...deployed, ...inbound].sort());
    assert.deepEqual([...s.stack.consumers.keys()], deployed);
  });

  for (const name of deployed) {
    it(`deploys ${name}: its rule, queue, DLQ, alarms and queue mapping`, () => {
      const queueName = `dev-taskstream-${name}`;
      assert.ok(named(s, 'AWS::Events::Rule', `dev-${ROUTING.bus}-${name}`, 'Name'), 'rule');
      assert.ok(named(s, 'AWS::SQS::Queue', queueName, 'QueueName'), 'queue');
      assert.ok(named(s, 'AWS::SQS::Queue', `${queueName}-dlq`, 'QueueName'), 'DLQ');
      assert.ok(named(s, 'AWS::CloudWatch::Alarm', `${queueName}-dlq-not-empty`, 'AlarmName'), 'DLQ alarm');
      assert.ok(named(s, 'AWS::CloudWatch::Alarm', `${queueName}-backlog`, 'AlarmName'), 'backlog alarm');
      const queueId = logicalIds(s, 'AWS::SQS::Queue').find((id) => s.resources[id]?.Properties?.QueueName === queueName);
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });
  }

  it('deploys nothing of a routed consumer without a crate', () => {
    const row = (name: string) => `\\"Consumer\\",\\"${name}\\"`;
    // One rule per deployed consumer and inbound route, and the notifier's clock with it.
    const clock = deployed.includes('notifier') ? 1 : 0;
    s.template.resourceCountIs('AWS::Events::Rule', deployed.length + inbound.length + clock);
    const dashboard = JSON.stringify(s.resources[logicalIds(s, 'AWS::CloudWatch::Dashboard')[0] as string]?.Properties);
    for (const name of skipped) {
      const queueName = `dev-taskstream-${name}`;
      assert.ok(!named(s, 'AWS::Events::Rule', `dev-${ROUTING.bus}-${name}`, 'Name'), `${name}: rule`);
      assert.ok(!named(s, 'AWS::SQS::Queue', queueName, 'QueueName'), `${name}: queue`);
      assert.ok(!named(s, 'AWS::SQS::Queue', `${queueName}-dlq`, 'QueueName'), `${name}: DLQ`);
      assert.ok(!named(s, 'AWS::Lambda::Function', queueName, 'FunctionName'), `${name}: function`);
      const alarms = logicalIds(s, 'AWS::CloudWatch::Alarm').filter((id) =>
        String(s.resources[id]?.Properties?.AlarmName).startsWith(`${queueName}-`),
      );
      assert.deepEqual(alarms, [], `${name}: alarms`);
      assert.ok(!dashboard.includes(row(name)), `${name}: dashboard row`);
    }
    // The same needle finds the rows of the deployed consumers.
    for (const name of deployed) assert.ok(dashboard.includes(row(name)), `${name}: no dashboard row`);
  });

  it('points every function at the one root certificate bundle of its runtime image', () => {
    const ids = logicalIds(s, 'AWS::Lambda::Function');
    assert.ok(ids.length > 0);
    for (const id of ids) {
      const props = s.resources[id]?.Properties;
      assert.equal(props?.Runtime, 'provided.al2023', id);
      assert.equal(props?.Environment?.Variables?.SSL_CERT_FILE, AL2023_CA_BUNDLE, id);
    }
  });

  it('still archives every event, so a consumer deployed later can be backfilled', () => {
    s.template.hasResourceProperties('AWS::Events::Archive', { EventPattern: { account: ['123456789012'] } });
  });

  it('warns once, naming every routed consumer without a crate and how to backfill it', () => {
    const found = warnings(s, CONSUMER_WITHOUT_HANDLER);
    if (skipped.length === 0) {
      assert.deepEqual(found, []);
      return;
    }
    assert.equal(found.length, 1, found.join('\n'));
    const [message] = found as [string];
    const listed = /are not deployed: ([a-z0-9, -]+)\./.exec(message)?.[1]?.split(', ');
    assert.deepEqual(listed, skipped, message);
    assert.match(message, /archived in dev-taskstream/);
    assert.match(message, /replay the archive into its rule/);
  });

  it('warns about crates nobody routes to only when there are some', () => {
    const found = warnings(s, HANDLER_WITHOUT_ROUTE);
    assert.equal(found.length, unrouted.length === 0 ? 0 : 1);
    for (const name of unrouted) assert.ok(found[0]?.includes(name), name);
  });

  it('creates the Timestream store and the SES identity only with their consumer', () => {
    const has = (name: string) => (deployed.includes(name) ? 1 : 0);
    s.template.resourceCountIs('AWS::Timestream::Database', has('metrics'));
    s.template.resourceCountIs('AWS::Timestream::Table', has('metrics'));
    s.template.resourceCountIs('AWS::SES::EmailIdentity', has('notifier'));
    // Webhook secrets are made at run time, one per subscription: none is a stack resource.
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });

  it('creates the state machines only with the escalation consumer, which starts them', () => {
    const withWorkflows = synth({ handlersDir: DEFAULT_HANDLERS_DIR, stateMachinesDir: EXAMPLE_STATE_MACHINES });
    const files = fs.readdirSync(EXAMPLE_STATE_MACHINES).filter((f) => f.endsWith('.asl.json'));
    withWorkflows.template.resourceCountIs('AWS::StepFunctions::StateMachine', deployed.includes('escalation') ? files.length : 0);
  });

  it('writes placeholder binaries for exactly the deployed handlers', () => {
    const dir = tempDir('workspace-assets');
    const written = writePlaceholderAssets(dir, DEFAULT_HANDLERS_DIR);
    assert.deepEqual([...written].sort(), [...REQUIRED_HANDLERS, ...deployed, ...inbound].sort());
    assert.deepEqual(fs.readdirSync(dir).sort(), [...written].sort());
    for (const handler of written) assert.ok(fs.existsSync(path.join(dir, handler, 'bootstrap')), handler);
  });

  it('leaves cdk-nag nothing to report', () => {
    const nag = s.report.pluginReports.find((r) => r.pluginName === 'AwsSolutions');
    assert.equal(nag?.conclusion, 'success');
    assert.deepEqual(nag?.violations, []);
  });
});

describe('handler crates against the routing table', () => {
  const without = (name: string) => handlerCratesDir(ALL_HANDLERS.filter((n) => n !== name));

  for (const required of [TASK_API, STREAM_ROUTER]) {
    it(`fails the synth, naming the missing crate, without ${required}`, () => {
      // Binaries for every handler, so the missing crate is the only thing wrong.
      const context = { handlersDir: without(required), assetDir: placeholderAssetDir() };
      assert.throws(
        () => synth(context),
        new RegExp(`no handler crate "${required}" at .*/${required}/Cargo\\.toml: task-api and stream-router are always deployed`),
      );
    });
  }

  it('fails the synth when the handlers folder does not exist', () => {
    const missing = path.join(tempDir('no-handlers'), 'handlers');
    assert.throws(() => synth({ handlersDir: missing, assetDir: placeholderAssetDir() }), /handlers folder .* does not exist/);
  });

  it('warns about a crate that is neither routed nor required, and does not deploy it', () => {
    const s = synth({ handlersDir: handlerCratesDir([...ALL_HANDLERS, 'reporting']) });
    const found = warnings(s, HANDLER_WITHOUT_ROUTE);
    assert.equal(found.length, 1);
    assert.match(found[0] as string, /not deployed: reporting\. No event would reach them/);
    assert.deepEqual(warnings(s, CONSUMER_WITHOUT_HANDLER), []);
    assert.deepEqual(functionNames(s), [...ALL_HANDLERS].sort());
  });

  it('deploys every routed consumer, without a warning, when every crate exists', () => {
    const s = synth();
    assert.deepEqual([...s.stack.consumers.keys()], routed);
    assert.deepEqual(warnings(s, CONSUMER_WITHOUT_HANDLER), []);
    assert.deepEqual(warnings(s, HANDLER_WITHOUT_ROUTE), []);
  });
});

describe('the handler plan', () => {
  const routing = {
    bus: 'taskstream',
    source: 'taskstream',
    consumers: [
      { name: 'audit-history', detailTypes: ['TaskCreated'] },
      { name: 'notifier', detailTypes: ['TaskAssigned'] },
    ],
  };

  it('keeps routed consumers with a crate, in routing-table order, and sorts out the rest', () => {
    const plan = planHandlers(routing, {
      dir: '/ws/handlers',
      names: ['audit-history', 'reporting', STREAM_ROUTER, TASK_API, TASK_INGEST],
    });
    assert.deepEqual(
      plan.consumers.map((c) => c.name),
      ['audit-history'],
    );
    assert.deepEqual(plan.withoutCrate, ['notifier']);
    assert.deepEqual(plan.unrouted, ['reporting']);
    assert.deepEqual(plan.inbound, [TASK_INGEST]);
  });

  it('counts only folders with a Cargo.toml as crates', () => {
    const dir = handlerCratesDir(['b-crate', 'a-crate']);
    fs.mkdirSync(path.join(dir, 'not-a-crate'));
    fs.writeFileSync(path.join(dir, 'README.md'), 'handlers\n');
    assert.deepEqual(listHandlerCrates(dir), { dir, names: ['a-crate', 'b-crate'] });
  });
});
