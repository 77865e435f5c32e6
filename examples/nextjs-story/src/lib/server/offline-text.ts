// The offline generator: deterministic text made from the prompt with a
// seeded word bank. It is offline text, not a language model; it lets the
// app and its tests run with no API key and no network.
/** FNV-1a, for a seed that depends only on the text. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: the same sequence for the same seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OPENINGS = ['At first light', 'Before anyone noticed', 'Long after supper', 'On the morning of the fair', 'When the wind turned', 'Just past the old bridge'];
const SUBJECTS = ['the lantern keeper', 'a small grey owl', 'the baker’s daughter', 'an unhurried tortoise', 'the twins', 'a lost paper boat'];
const VERBS = ['wondered about', 'set out toward', 'whispered to', 'carefully mended', 'followed', 'laughed at'];
const OBJECTS = ['the crooked chimney', 'a map drawn in chalk', 'the quiet harbour', 'a jar of fireflies', 'the tallest hill', 'an unopened letter'];
const ENDINGS = ['and nothing was quite the same.', 'until the stars came out.', 'as the kettle began to sing.', 'while the town slept.', 'and the river listened.', 'which was brave, in its way.'];
const NOTES = ['tighten the opening line', 'show the feeling instead of naming it', 'give the middle a sharper image', 'end on a quieter beat', 'keep the voice closer to the style', 'cut one repeated word'];

function sentence(r: () => number, topic: string): string {
  const pick = <T,>(a: T[]) => a[Math.floor(r() * a.length)];
  return `${pick(OPENINGS)}, ${pick(SUBJECTS)} ${pick(VERBS)} ${r() < 0.5 ? topic : pick(OBJECTS)}, ${pick(ENDINGS)}`;
}

function paragraph(seed: string, topic: string, sentences: number): string {
  const r = random(hash(seed));
  return Array.from({ length: sentences }, () => sentence(r, topic)).join(' ');
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The value of a "Label: value" line of the prompt (the last such line). */
function field(prompt: string, label: string): string {
  const lines = prompt.split('\n').filter((l) => l.startsWith(`${label}: `));
  return lines.length ? lines[lines.length - 1].slice(label.length + 2) : '';
}

/** The text after a "Label:" line, up to the next blank line. */
function block(prompt: string, label: string): string {
  const at = prompt.indexOf(`\n${label}:\n`);
  if (at < 0) return '';
  const rest = prompt.slice(at + label.length + 3);
  const end = rest.indexOf('\n\n');
  return end < 0 ? rest : rest.slice(0, end);
}

/**
 * What the offline generator writes for a prompt of the story workflow
 * (prompts.ts); the step name says which task it is.
 */
export function offlineText(stepName: string, prompt: string): string {
  const topic = field(prompt, 'Topic') || 'a story';
  const style = field(prompt, 'Style');
  if (stepName === 'outline') {
    const pages = Math.max(1, Number(field(prompt, 'Pages')) || 1);
    const r = random(hash(`outline:${topic}:${style}`));
    const pick = <T,>(a: T[]) => a[Math.floor(r() * a.length)];
    const lines = [`Title: The Tale of ${topic.trim()}`];
    for (let n = 1; n <= pages; n++) lines.push(`Page ${n}: ${capitalize(pick(SUBJECTS))} ${pick(VERBS)} ${pick(OBJECTS)}.`);
    return lines.join('\n');
  }
  const kind = stepName.split('/')[2] ?? '';
  if (kind === 'write') return paragraph(`${stepName}:${field(prompt, 'Plan')}:${style}`, topic, 4);
  if (kind === 'critique') {
    const r = random(hash(`${stepName}:${block(prompt, 'Draft')}`));
    const a = NOTES[Math.floor(r() * NOTES.length)];
    const b = NOTES[Math.floor(r() * NOTES.length)];
    return `${capitalize(a)}; ${b === a ? 'otherwise it holds together' : b}.`;
  }
  if (kind === 'revise') {
    const draft = block(prompt, 'Draft');
    const sentences = draft.split(/(?<=[.!?]) /);
    const round = Number(stepName.split('/')[3] ?? 1);
    sentences[round % sentences.length] = paragraph(`${stepName}:${block(prompt, 'Critique')}`, topic, 1);
    return sentences.join(' ');
  }
  if (kind === 'illustration') {
    const content = block(prompt, 'Page');
    const r = random(hash(`${stepName}:${content}`));
    const palettes = ['Soft watercolour', 'Ink and wash', 'Warm gouache', 'Cut-paper collage'];
    const first = content.split(/(?<=[.!?]) /)[0] ?? '';
    return `${palettes[Math.floor(r() * palettes.length)]}, ${style || 'plain'} mood: ${first}`;
  }
  return paragraph(`${stepName}:${prompt}`, topic, 2);
}
