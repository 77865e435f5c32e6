// Runs once when the Next.js server starts, before it serves a request: opens
// and launches the storyloom engine, so stories a previous server left
// unfinished (killed, crashed, redeployed) resume at once, with no request.
// Only in the Node.js runtime (the engine is a native addon), and not while
// `next build` prerenders pages.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  if (process.env.NEXT_PHASE === 'phase-production-build') return;
  // The first Ctrl-C or SIGTERM ends event streams and closes the engine, then Next.js stops.
  const { installShutdown } = await import('./lib/server/shutdown');
  installShutdown();
  const { getEngine } = await import('./lib/server/engine');
  try {
    await getEngine();
  } catch (e) {
    // The server still starts; the next request that needs the engine tries again.
    console.error('storyloom: could not open the engine at server start:', e);
  }
}
