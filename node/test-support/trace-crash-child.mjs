// Starts the 'traced' workflow with an explicit traceparent, lets its first
// step commit, then hangs in the second so the test can SIGKILL this process.
// argv: dbPath traceParent readyFile
import { writeFileSync } from 'node:fs';
import { Engine } from 'storyloom';

const [db, traceParent, readyFile] = process.argv.slice(2);
const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10, telemetry: false });
engine.workflow('traced', async (ctx) => {
  await ctx.step('first', () => 1);
  return ctx.step('second', async () => {
    await new Promise((r) => setTimeout(r, 300)); // let the first step commit
    writeFileSync(readyFile, 'ready');
    await new Promise(() => setInterval(() => {}, 1000)); // until killed
  });
});
engine.launch();
const run = await engine.start('traced', {}, { traceParent });
process.stdout.write(`${run.id}\n`);
