// Runs the 'fetchy' workflow: an http step, then a step that hangs so the
// test can SIGKILL this process after the response was committed.
// argv: dbPath url readyFile
import { writeFileSync } from 'node:fs';
import { Engine } from 'storyloom';

const [db, url, readyFile] = process.argv.slice(2);
const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
engine.workflow('fetchy', async (ctx) => {
  const response = await ctx.http('fetch', { method: 'POST', url, json: { n: 1 } });
  return ctx.step('hang', async () => {
    writeFileSync(readyFile, 'ready'); // the http step's result is committed by now
    await new Promise(() => setInterval(() => {}, 1000)); // until killed
    return response.status;
  });
});
engine.launch();
const run = await engine.start('fetchy', {});
process.stdout.write(`${run.id}\n`);
