// Starts the project's fake LLM server program (tests/support/FAKE_LLM_SERVER.md)
// for a test: STORYLOOM_FAKE_LLM_SERVER, else the C++ build's
// ../build/tests/support/fake_llm_server. Missing is a failure, not a skip:
// these tests are how the Node binding's llm step is checked end to end.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function fakeServerPath() {
  const file = process.env.STORYLOOM_FAKE_LLM_SERVER || path.join(here, '..', '..', 'build', 'tests', 'support', 'fake_llm_server');
  if (!existsSync(file)) {
    throw new Error(
      `the fake LLM server program is missing at ${file}: run scripts/build.sh at the repository root ` +
        '(or cmake --build build --target fake_llm_server), or set STORYLOOM_FAKE_LLM_SERVER',
    );
  }
  return file;
}

/**
 * Runs the server until the test ends. `url(scenario)` is the OpenAI-compatible
 * base URL for a scenario ("rate_limited_then_ok~t1;retry_after_ms=200").
 */
export async function startFakeServer(t) {
  const child = spawn(fakeServerPath(), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const [line] = await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`fake_llm_server exited with ${code} before printing its port`);
    }),
  ]);
  const port = Number(/^port (\d+)$/.exec(line)?.[1]);
  if (!port) throw new Error(`fake_llm_server printed '${line}', not 'port N'`);
  t.after(async () => {
    const exited = once(child, 'exit');
    child.stdin.end();
    await exited;
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    port,
    url: (scenario) => `${origin}/s/${scenario}/v1`,
    /** The base URL of a Gemini provider (its paths start /v1beta). */
    geminiUrl: (scenario) => `${origin}/s/${scenario}`,
    /** The http step's echo under a scenario (FAKE_LLM_SERVER.md, "The http step"). */
    httpUrl: (scenario, rest = '/things') => `${origin}/h/${scenario}${rest}`,
    stats: async () => (await fetch(`${origin}/_stats`)).json(),
    /** Every request the server got: [{method, path, headers, body}]. */
    requests: async () => (await (await fetch(`${origin}/_requests`)).json()).requests,
  };
}
