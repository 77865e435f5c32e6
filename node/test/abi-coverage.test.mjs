// Every function of the C ABI is bound by the addon or listed here as
// deliberately not exposed, with the reason (DuckDB's Node bindings keep such a list).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const header = readFileSync(path.join(here, '..', '..', 'include', 'storyloom', 'storyloom.h'), 'utf8');
// Every source file of the addon (src/*.cc, and the headers that hold classes
// such as DurableWaits).
const srcDir = path.join(here, '..', 'src');
const addon = readdirSync(srcDir)
  .filter((f) => f.endsWith('.cc') || f.endsWith('.h'))
  .map((f) => readFileSync(path.join(srcDir, f), 'utf8'))
  .join('\n');

/** name -> why it is not called by the addon. */
const NOT_EXPOSED = {
  sl_last_error_code: 'every call returns its status code; the addon reads the class and message of the last error',
  sl_execution_step_begin: 'the addon calls sl_execution_step_begin_with_retry, the same call with a per-step retry policy (none when not given)',
  sl_execution_llm: 'the addon calls sl_execution_llm_with_retry, the same call with a per-step retry policy (none when not given)',
  sl_execution_wait_durable: 'it blocks the calling thread, which is the JS thread; ctx waits with sl_execution_when_durable instead',
  sl_engine_start: 'it waits for its commit on a pool thread; engine.start() calls sl_engine_start_async, answered by a callback once durable',
};

test('every exported C function is bound or listed as not exposed', () => {
  const exported = [...header.matchAll(/SL_API[^;(]*?\b(sl_\w+)\s*\(/g)].map((m) => m[1]);
  assert.ok(exported.length > 30, `found ${exported.length} functions`);
  const missing = exported.filter((name) => !(name in NOT_EXPOSED) && !new RegExp(`\\b${name}\\b`).test(addon));
  assert.deepEqual(missing, []);
});
