// The process close.test.mjs runs: opens an engine on DB with drainTimeoutMs
// 1000, starts one run whose step waits 5 s (on an unreferenced timer, so only
// the engine could keep Node alive), closes the engine while the step waits,
// prints "<run id> <ms close took>" and lets Node exit with the step pending.
//   node close-child.mjs DB
import { Engine } from 'storyloom';

const [db] = process.argv.slice(2);
const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10, drainTimeoutMs: 1000 });
let began;
const stepBegan = new Promise((resolve) => (began = resolve));
engine.workflow('slow', async (ctx) =>
  ctx.step('block', async () => {
    began();
    await new Promise((r) => setTimeout(r, 5000).unref());
    return 'first process';
  }),
);
engine.launch();
const { id } = await engine.start('slow', {});
await stepBegan;
const t0 = Date.now();
await engine.close();
console.log(id, Date.now() - t0);
