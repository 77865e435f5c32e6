// Opens an engine, completes a run and returns: the process must then exit
// by itself (an idle engine keeps nothing alive). argv: dbPath close|leave
import { Engine } from 'storyloom';

const [db, mode] = process.argv.slice(2);
const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 10 });
engine.workflow('quick', async (ctx) => ctx.step('one', () => 1));
engine.workflow('parks', async (ctx) => ctx.waitForSignal('never'));
engine.launch();
const { id } = await engine.start('quick', {});
for (;;) {
  const run = await engine.get(id);
  if (run.status === 'completed') break;
  await new Promise((r) => setTimeout(r, 5));
}
await engine.start('parks', {}); // left waiting
if (mode === 'close') await engine.close();
process.stdout.write('done\n');
