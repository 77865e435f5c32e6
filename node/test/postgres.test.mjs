// A PostgreSQL URL passes through Engine.open unchanged: a run started by one
// engine is executed by another on the same database. Runs when
// STORYLOOM_TEST_PG_URL names a server (scripts/test.sh starts a throwaway
// one); each run of the file uses a fresh schema, made with psql (the
// throwaway cluster goes with it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Engine } from 'storyloom';
import { waitForRun } from '../test-support/helpers.mjs';

const server = process.env.STORYLOOM_TEST_PG_URL;

test('two engines share a PostgreSQL store', { skip: server ? false : 'STORYLOOM_TEST_PG_URL is not set' }, async (t) => {
  const schema = `node_${process.pid}_${Date.now()}`;
  execFileSync('psql', [server, '-qc', `CREATE SCHEMA ${schema}`]);
  const url = `${server}?options=-csearch_path%3D${schema}`;
  const starter = await Engine.open({ store: url, pollIntervalMs: 20 });
  t.after(() => starter.close());
  starter.workflow('greet', {}, async () => null);  // registered, never launched here
  const executor = await Engine.open({ store: url, pollIntervalMs: 20 });
  t.after(() => executor.close());
  executor.workflow('greet', {}, async (ctx, input) => ctx.step('hello', async () => `hello ${input.name}`));
  executor.launch();
  const started = await starter.start('greet', { name: 'owl' });
  const run = await waitForRun(starter, started.id);
  assert.equal(run.status, 'completed');
  assert.equal(run.output, 'hello owl');
});

test('a wrong PostgreSQL password is a store error without the password', { skip: server ? false : 'STORYLOOM_TEST_PG_URL is not set' }, async () => {
  const hostPort = server.match(/@([^/]+)\//)[1];
  await assert.rejects(Engine.open({ store: `postgresql://nobody:hunter2-secret@${hostPort}/postgres` }), (err) => {
    assert.match(err.message, /postgresql:\/\/nobody:\*\*\*@/);
    assert.doesNotMatch(err.message, /hunter2-secret/);
    return true;
  });
});
