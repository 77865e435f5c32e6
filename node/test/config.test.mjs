// Engine.open's llm and resources options, configureResource and
// resourceStatus: types are checked in TypeScript, ranges by the engine; both
// name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, InvalidArgumentError, NotFoundError } from 'storyloom';
import { openEngine } from '../test-support/helpers.mjs';

function rejectsWith(type, message) {
  return (e) => {
    assert.ok(e instanceof type, `${e?.name}: ${e?.message}`);
    assert.match(e.message, message);
    return true;
  };
}

test('Engine.open refuses llm and resources options of the wrong shape, naming the field', async () => {
  const cases = [
    [{ llm: 'openai' }, /^Engine\.open: llm must be an object, got "openai"$/],
    [{ llm: { provider: 'x' } }, /^Engine\.open: llm: unknown option 'provider' \(known: defaultProvider, useEnvironment, providers\)$/],
    [{ llm: { useEnvironment: 'no' } }, /^Engine\.open: llm\.useEnvironment must be a boolean, got "no"$/],
    [{ llm: { defaultProvider: 3 } }, /^Engine\.open: llm\.defaultProvider must be a string, got 3$/],
    [{ llm: { providers: {} } }, /^Engine\.open: llm\.providers must be an array, got \{\}$/],
    [{ llm: { providers: [{ kind: 'offline' }] } }, /^Engine\.open: llm\.providers\[0\]\.name must be a string, got undefined$/],
    [{ llm: { providers: [{ name: 'x', kind: 'bogus' }] } }, /^Engine\.open: llm\.providers\[0\]\.kind must be one of openai, anthropic, gemini, offline, got "bogus"$/],
    [{ llm: { providers: [{ name: 'x', api_key: 'k' }] } }, /^Engine\.open: llm\.providers\[0\]: unknown option 'api_key' \(known: name, kind, baseUrl, apiKey/],
    [{ llm: { providers: [{ name: 'x', baseUrl: 42 }] } }, /llm\.providers\[0\]\.baseUrl must be a string, got 42/],
    [{ llm: { providers: [{ name: 'x', idleTimeoutMs: '5s' }] } }, /llm\.providers\[0\]\.idleTimeoutMs must be an integer, got "5s"/],
    [{ resources: [] }, /^Engine\.open: resources must be an object of resource name to limits, got \[\]$/],
    [{ resources: { 'llm:x': 5 } }, /^Engine\.open: resources\['llm:x'\] must be an object, got 5$/],
    [{ resources: { 'llm:x': { rpm: 5 } } }, /resources\['llm:x'\]: unknown option 'rpm' \(known: requests, periodMs, burst, maxInFlight, tokensPerMinute\)/],
    [{ resources: { 'llm:x': { requests: '5' } } }, /resources\['llm:x'\]\.requests must be a finite number, got "5"/],
    [{ resources: { 'llm:x': { maxInFlight: 1.5 } } }, /resources\['llm:x'\]\.maxInFlight must be an integer, got 1\.5/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(Engine.open({ store: ':memory:', ...options }), rejectsWith(InvalidArgumentError, message), JSON.stringify(options));
  }
});

test('Engine.open passes ranges to the engine, which names the field and the value', async () => {
  const cases = [
    [{ resources: { 'llm:x': { requests: -1 } } }, InvalidArgumentError, /^resource 'llm:x': requests must be finite and at least 0, got -1$/],
    [{ resources: { 'llm:x': { periodMs: 0 } } }, InvalidArgumentError, /^resource 'llm:x': period must be at least 1 ms, got 0 ms$/],
    [{ resources: { 'llm:x': { requests: 1, burst: 0.5 } } }, InvalidArgumentError, /burst must be 0 \(the size of requests\) or at least 1, got 0\.5/],
    [{ llm: { providers: [{ name: '', kind: 'offline' }] } }, InvalidArgumentError, /^config\.llm\.providers\[0\]\.name is required$/],
    [{ llm: { providers: [{ name: 'x', kind: 'offline', connectTimeoutMs: 0 }] } }, InvalidArgumentError, /llm provider 'x': connect_timeout must be at least 1 ms/],
    [{ llm: { useEnvironment: false, providers: [{ name: 'o', kind: 'openai' }] } }, InvalidArgumentError, /llm provider 'o' has no api_key and no base_url/],
    [{ llm: { useEnvironment: false, defaultProvider: 'ghost' } }, NotFoundError, /^llm provider 'ghost' is not configured \(configured: offline\)$/],
  ];
  for (const [options, type, message] of cases) {
    await assert.rejects(Engine.open({ store: ':memory:', ...options }), rejectsWith(type, message), JSON.stringify(options));
  }
});

test('configureResource sets limits that resourceStatus reports; unknown names are unlimited', async (t) => {
  const engine = await openEngine(t, { resources: { 'llm:a': { requests: 3, periodMs: 60000, tokensPerMinute: 1000, maxInFlight: 2 } } });
  assert.deepEqual(await engine.resourceStatus('llm:a'), {
    name: 'llm:a',
    availableRequests: 3,
    availableTokens: 1000,
    inFlight: 0,
    waiting: 0,
    pausedUntilMs: 0,
  });
  await engine.configureResource('llm:a', { requests: 2, periodMs: 60000, burst: 1 });
  const s = await engine.resourceStatus('llm:a');
  assert.equal(s.availableRequests, 1); // the bucket holds at most the burst
  assert.equal(s.availableTokens, null);
  await engine.configureResource('image-api', {});
  assert.deepEqual(await engine.resourceStatus('never-configured'), {
    name: 'never-configured',
    availableRequests: null,
    availableTokens: null,
    inFlight: 0,
    waiting: 0,
    pausedUntilMs: 0,
  });
});

test('configureResource refuses bad limits and names; resourceStatus a non-string name', async (t) => {
  const engine = await openEngine(t);
  const cases = [
    ['llm:a', { requests: -1 }, /^resource 'llm:a': requests must be finite and at least 0, got -1$/],
    ['llm:a', { periodMs: 0 }, /^resource 'llm:a': period must be at least 1 ms, got 0 ms$/],
    ['llm:a', { maxInFlight: -2 }, /^resource 'llm:a': max_in_flight must be at least 0, got -2$/],
    ['llm:a', { tokensPerMinute: -5 }, /tokens_per_minute/],
    ['llm:a', { maxInFlight: 'two' }, /^engine\.configureResource\('llm:a'\): limits\.maxInFlight must be an integer, got "two"$/],
    ['llm:a', { perMinute: 3 }, /^engine\.configureResource\('llm:a'\): limits: unknown option 'perMinute'/],
    ['llm:a', null, /^engine\.configureResource\('llm:a'\): limits must be an object, got null$/],
    ['', { requests: 1 }, /^resource '': name must be 1 to 128 bytes, got 0$/],
  ];
  for (const [name, limits, message] of cases) {
    await assert.rejects(engine.configureResource(name, limits), rejectsWith(InvalidArgumentError, message), JSON.stringify([name, limits]));
  }
  await assert.rejects(engine.resourceStatus(7), rejectsWith(InvalidArgumentError, /^engine\.resourceStatus: name must be a string, got 7$/));
});
