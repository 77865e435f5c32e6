// Starts `next start` (after `next build`) on 127.0.0.1 and a free port with a
// store of its own, and Debian's Chromium through playwright-core; stops both.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const appDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const screenshotsDir = path.join(appDir, 'e2e-screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(base, server, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`next start exited with ${server.exitCode}:\n${server.output()}`);
    try {
      const response = await fetch(`${base}/api/health`);
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the server at ${base} was not healthy after ${timeoutMs} ms (last: ${last}):\n${server.output()}`);
}

// The tests check the offline provider's text and labels: a key in the
// developer's environment must not send them to a real model (nor the
// pictures to a real images API).
const LLM_VARIABLES = [
  'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL', 'OPENROUTER_API_KEY', 'OPENROUTER_MODEL',
  'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_MODEL', 'STORYLOOM_LLM_PROVIDER',
  'STORYLOOM_IMAGE_PROVIDER', 'OPENAI_IMAGE_MODEL', 'OPENAI_IMAGE_SIZE',
  'STORY_IMAGES_BASE_URL', 'STORY_IMAGES_API_KEY', 'STORY_IMAGES_MODEL', 'STORY_IMAGES_SIZE',
];

function withoutLlmKeys(env) {
  const out = { ...env };
  for (const name of LLM_VARIABLES) delete out[name];
  return out;
}

async function waitForLog(pattern, server, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`next start exited with ${server.exitCode}:\n${server.output()}`);
    const match = server.output().match(pattern);
    if (match) return match;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the server printed nothing matching ${pattern} in ${timeoutMs} ms:\n${server.output()}`);
}

/** A new directory for a server's store (the caller removes it). */
export function storeDir() {
  return mkdtempSync(path.join(tmpdir(), 'nextjs-story-e2e-'));
}

/**
 * Starts the built app; returns {base, port, dbPath, pid, stop, kill, output}.
 * `env` adds to the server's environment (e.g. STORY_LIMIT_PER_HOUR).
 * `dir` and `port` reuse another server's store and address (a restart;
 * the caller then removes `dir`); `readyLog` waits for a line of the
 * server's output matching it instead of asking /api/health, so that the
 * server gets no request (its match is returned as `ready`). `env` adds
 * variables to the server's environment.
 */
export async function startServer({ wordDelayMs = 15, dir, port, readyLog, env = {} } = {}) {
  if (!existsSync(path.join(appDir, '.next', 'BUILD_ID'))) {
    throw new Error(`no production build in ${appDir}/.next: run \`npx next build\` first`);
  }
  const ownsDir = dir === undefined;
  dir ??= storeDir();
  port ??= await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dbPath = path.join(dir, 'e2e.db');
  const child = spawn(process.execPath, [path.join(appDir, 'node_modules', 'next', 'dist', 'bin', 'next'), 'start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: appDir,
    env: {
      ...withoutLlmKeys(process.env),
      STORYLOOM_STORE: `sqlite:${dbPath}`,
      STORY_WORD_DELAY_MS: String(wordDelayMs),
      // Accounts beside the store (a restart keeps them, and the session
      // secret with them); plain http on 127.0.0.1, so no Secure cookie.
      STORY_ACCOUNTS_FILE: path.join(dir, 'accounts.json'),
      STORY_COOKIE_SECURE: '0',
      ...env,
      NEXT_TELEMETRY_DISABLED: '1',
      NODE_ENV: 'production',
      ...env,
    },
    detached: true, // its own process group, so stop() ends next-server's children too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const server = { get exitCode() { return child.exitCode; }, output: () => log };
  const stop = async () => {
    if (child.exitCode === null) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await exited;
      clearTimeout(timer);
    }
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  };
  /** SIGKILL to the whole server (next start and next-server): nothing is shut down cleanly. */
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      await exited;
    }
  };
  let ready;
  try {
    if (readyLog) ready = await waitForLog(readyLog, server, 60000);
    else await waitForHealth(base, server, 60000);
  } catch (e) {
    await stop();
    throw e;
  }
  // exited: resolves with the exit code (or the signal's name) once the server has stopped.
  const exitedWith = exited.then((code) => code ?? child.signalCode);
  return { base, port, dbPath, pid: child.pid, ready, stop, kill, exited: exitedWith, output: () => log };
}

/** Chromium from the system (no browser download), headless, with a fresh profile. */
export async function startBrowser() {
  const profile = mkdtempSync(path.join(tmpdir(), 'nextjs-story-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
  });
  return {
    context,
    stop: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
