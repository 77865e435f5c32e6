// Stopping on the first Ctrl-C (SIGINT) or SIGTERM. `next start` handles both
// by closing its HTTP server, which waits for every request in flight; an
// event stream never ends by itself, so with a browser on a story page the
// server would never stop. Here the first signal ends every event stream,
// closes the engine (it waits up to its drain timeout for steps in flight and
// puts the rest back in the queue), and only then hands the signal to the
// handlers that were there before (Next.js's own shutdown, which now finds no
// stream open and exits). A second signal exits at once.
//
// State lives on globalThis: instrumentation and route handlers are bundled
// separately, and a dev-server hot reload evaluates this module again.
import type { Engine } from './storyloom';

type Holder = typeof globalThis & {
  __storyloomShutdown?: AbortController;
  __storyloomEngine?: Promise<Engine>;
};
const holder = globalThis as Holder;

/** Aborted on the first SIGINT or SIGTERM: long-lived responses (event streams) end with it. */
export function shutdownSignal(): AbortSignal {
  holder.__storyloomShutdown ??= new AbortController();
  return holder.__storyloomShutdown.signal;
}

/** Takes over SIGINT and SIGTERM for the orderly stop above. Idempotent. */
export function installShutdown(): void {
  const controller = (holder.__storyloomShutdown ??= new AbortController());
  const marked = process as NodeJS.Process & { __storyloomShutdownInstalled?: boolean };
  if (marked.__storyloomShutdownInstalled) return;
  marked.__storyloomShutdownInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const before = process.listeners(signal);
    process.removeAllListeners(signal);
    process.on(signal, () => {
      const code = signal === 'SIGINT' ? 130 : 143;
      if (controller.signal.aborted) process.exit(code); // the second signal
      console.log(`storyloom: ${signal}: ending event streams and closing the engine`);
      controller.abort();
      void closeEngine().finally(() => {
        if (before.length === 0) process.exit(code);
        for (const listener of before) listener.call(process, signal);
      });
    });
  }
}

async function closeEngine(): Promise<void> {
  try {
    const engine = await holder.__storyloomEngine;
    await engine?.close();
    console.log('storyloom: engine closed');
  } catch (e) {
    console.error('storyloom: closing the engine failed:', e);
  }
}
