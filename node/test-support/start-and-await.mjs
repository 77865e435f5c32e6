// A plain script: starts a run and awaits its end with no keep-alive of its
// own; the process must stay alive until then, then exit by itself.
// argv: dbPath events|promise
//   events:  awaits the end through engine.events()
//   promise: awaits a Promise settled inside the workflow; the step fails
//            once, so for its 300 ms retry backoff no execution is in JS and
//            only the engine's keep-alive holds the loop
import { Engine } from 'storyloom';

const [db, mode] = process.argv.slice(2);
const engine = await Engine.open({ store: `sqlite:${db}`, pollIntervalMs: 20 });
let reached;
const inside = new Promise((resolve) => (reached = resolve));
let attempts = 0;
engine.workflow('story', { retry: { maxAttempts: 2, initialBackoffMs: 300, jitter: false } }, async (ctx, input) => {
  const text = await ctx.step('write', () => {
    if (++attempts === 1) throw new Error('first attempt fails');
    return `a story about ${input.topic}`;
  });
  reached(text);
  return text;
});
engine.launch();
const run = await engine.start('story', { topic: 'owls' });
if (mode === 'events') {
  let last;
  for await (const event of engine.events(run.id)) last = event.type;
  process.stdout.write(`${last}\n`);
} else {
  process.stdout.write(`${await inside}\n`);
}
