// The outline and the critique are asked for as JSON (the engine's
// JSON-schema structured output; the C++ example's structured_answers.cc):
// their schemas, and how an answer becomes an Outline or a critique. An
// answer without JSON (a truncated one) falls back to reading its text.
import type { LlmResult } from 'storyloom';
import type { Outline, StoryInput } from '../story';
import { parseOutline } from './prompts';

function text(description: string) {
  return { type: 'string', minLength: 1, description };
}

/** {title, visual_style, characters, pages: [exactly `pages` strings]}. */
export function outlineSchema(pages: number): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      title: text("the story's title"),
      visual_style: text("the illustrations' visual style, a few words"),
      characters: text('each character and how they look (species, age, clothes, colours), one sentence each'),
      pages: { type: 'array', items: text('what happens on this page, one or two sentences'), minItems: pages, maxItems: pages },
    },
    required: ['title', 'visual_style', 'characters', 'pages'],
    additionalProperties: false,
  };
}

/** {critique, change: the single most useful change}. */
export function critiqueSchema(): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      critique: text('two or three sentences on what works and what does not'),
      change: text('the single most useful change'),
    },
    required: ['critique', 'change'],
    additionalProperties: false,
  };
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The outline an answer holds: its JSON (blank parts derived from the input), else its text form. */
export function outlineFromAnswer(answer: Pick<LlmResult, 'text' | 'json'>, input: StoryInput): Outline {
  const json = answer.json;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return parseOutline(answer.text, input);
  const o = json as Record<string, unknown>;
  const pages = Array.isArray(o.pages) ? o.pages : [];
  const lines = [`TITLE: ${stringOf(o.title)}`, `STYLE: ${stringOf(o.visual_style)}`, `CHARACTERS: ${stringOf(o.characters)}`, ...pages.map((p, i) => `PAGE ${i + 1}: ${stringOf(p)}`)];
  return parseOutline(lines.join('\n'), input);
}

/** The critique as one text: "<critique> Most useful change: <change>". */
export function critiqueFromAnswer(answer: Pick<LlmResult, 'text' | 'json'>): string {
  const json = answer.json;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return answer.text;
  const o = json as Record<string, unknown>;
  const critique = stringOf(o.critique);
  const change = stringOf(o.change);
  return change ? `${critique} Most useful change: ${change}`.trim() : critique;
}
