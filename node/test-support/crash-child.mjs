// Runs the 'crashy' workflow until its second step, then hangs there so the
// test can SIGKILL this process. argv: dbPath sideEffectFile readyFile
import { appendFileSync, writeFileSync } from 'node:fs';
import { Engine } from 'storyloom';

const [db, sideFile, readyFile] = process.argv.slice(2);
const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
engine.workflow('crashy', async (ctx) => {
  await ctx.step('side-effect', () => {
    appendFileSync(sideFile, 'x\n');
    return 'done once';
  });
  return ctx.step('hang', async () => {
    await new Promise((r) => setTimeout(r, 300)); // let the first step commit
    writeFileSync(readyFile, 'ready');
    await new Promise(() => setInterval(() => {}, 1000)); // until killed
  });
});
engine.launch();
const run = await engine.start('crashy', {});
process.stdout.write(`${run.id}\n`);
