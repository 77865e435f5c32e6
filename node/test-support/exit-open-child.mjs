// Run by exit.test.mjs: a script that ends with its engine open and busy. The
// runs were started by another engine, so nothing holds the loop for them
// but an execution in JavaScript; they sleep a few ms (parked) and the script
// ends as soon as none is in JavaScript, while the engine keeps waking them
// and handing them over. argv: DB MODE DELAY [CODE] (end: the script falls
// off its end, with a timer of DELAY ms holding the loop until then | exit:
// process.exit(CODE, 0 when absent) after DELAY ms, the engine open).
import { Engine } from 'storyloom';

const [db, mode, delay, code = '0'] = process.argv.slice(2);
const options = { store: `sqlite:${db}`, workers: 4, pollIntervalMs: 5, durability: 'normal' };
const page = async (ctx, input) => {
  await ctx.sleep('nap', input.n % 50);
  return ctx.step('write', () => input.n);
};
const starter = await Engine.open(options);
starter.workflow('page', page); // known, never launched: it starts runs, executes none
const requests = Array.from({ length: 300 }, (_, n) => ({ workflow: 'page', input: { n } }));
const started = await starter.startMany(requests);
if (started.some((r) => !r.run)) throw new Error(JSON.stringify(started.find((r) => !r.run)));
await starter.close();
const engine = await Engine.open(options);
engine.workflow('page', page);
engine.launch();
setTimeout(() => mode === 'exit' && process.exit(Number(code)), Number(delay));
