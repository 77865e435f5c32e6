// What the story asks a language model, per kind of text: the prompts of the
// C++ story example (examples/story/prompts.cc). The outline and the critique
// are asked for as JSON matching a schema (structured-answers.ts); a model
// fills it in and so does the engine's offline provider. parseOutline reads
// the older text form ("TITLE: ...", "PAGE 1: ...") of an answer without JSON.
import type { Outline, StoryInput } from '../story';
import { critiqueSchema, outlineSchema } from './structured-answers';

export interface Prompt {
  system: string;
  user: string;
  maxTokens: number;
  /** Structured output: the JSON Schema the answer must match. */
  jsonSchema?: Record<string, unknown>;
}

function system(input: StoryInput): string {
  return `You write illustrated stories, one short page at a time. Author style: ${input.author_style}.`;
}

function pageOf(input: StoryInput, page: number): string {
  return `page ${page} of ${input.pages}`;
}

function planOf(outline: Outline, page: number): string {
  return outline.pages[page - 1]?.plan ?? '';
}

export function outlinePrompt(input: StoryInput): Prompt {
  return {
    system: system(input),
    user:
      `Plan an illustrated story about ${input.topic} in exactly ${input.pages} pages. Answer with JSON: the title, ` +
      'the visual style of the illustrations (a few words), the characters and how each looks (so every picture draws them alike) ' +
      'and, for each page in order, what happens on it in one or two sentences.',
    maxTokens: 200 + 80 * input.pages,
    jsonSchema: outlineSchema(input.pages),
  };
}

export function writePrompt(input: StoryInput, outline: Outline, page: number): Prompt {
  return {
    system: system(input),
    user:
      `The story "${outline.title}" is about ${input.topic}. Write ${pageOf(input, page)}. Its plan: ${planOf(outline, page)}` +
      "\nAnswer with the page's text only: one paragraph of 80 to 150 words.",
    maxTokens: 400,
  };
}

export function critiquePrompt(input: StoryInput, outline: Outline, page: number, draft: string): Prompt {
  return {
    system: system(input),
    user:
      `Critique ${pageOf(input, page)} of "${outline.title}" (plan: ${planOf(outline, page)}). Answer with JSON: ` +
      `the critique in two or three sentences, and the single most useful change.\n\n${draft}`,
    maxTokens: 200,
    jsonSchema: critiqueSchema(),
  };
}

export function revisePrompt(input: StoryInput, outline: Outline, page: number, draft: string, critique: string): Prompt {
  return {
    system: system(input),
    user: `Revise ${pageOf(input, page)} of "${outline.title}" by applying this critique: ${critique}\nAnswer with the revised page's text only.\n\n${draft}`,
    maxTokens: 500,
  };
}

export function illustrationPrompt(input: StoryInput, outline: Outline, page: number, draft: string): Prompt {
  return {
    system: system(input),
    user:
      `Write the illustration brief for ${pageOf(input, page)} of "${outline.title}": what the picture shows ` +
      `(characters, setting, action, mood), in the book's visual style: ${outline.style}. ` +
      `Two or three sentences, nothing else.\n\nThe page:\n${draft}`,
    maxTokens: 200,
  };
}

/**
 * Page N's picture prompt (the C++ example's picture_prompt): the outline's
 * visual style, title and characters, the same at the head of every page's
 * prompt so the pictures stay alike, then the page's illustration brief.
 */
export function picturePrompt(outline: Outline, brief: string): string {
  const characters = outline.characters ? `Characters: ${outline.characters}. ` : '';
  return `Style: ${outline.style}. A picture for the story "${outline.title}". ${characters}${brief}`;
}

/** `line` without markdown emphasis or heading marks around it. */
function bare(line: string): string {
  return line.replace(/^[*#\s]+/, '').trim();
}

/** "TITLE: text" (any case, optional markdown bold) → "text"; undefined otherwise. */
function labelled(line: string, label: string): string | undefined {
  const m = new RegExp(`^${label}[*:\\s]+(.*)$`, 'i').exec(bare(line));
  const value = m?.[1].replace(/\*+$/, '').trim();
  return value ? value : undefined;
}

/**
 * Reads the outline answer (the C++ example's parse_outline): the first
 * TITLE, STYLE, CHARACTERS and PAGE N lines count; what is missing gets a
 * plain default.
 */
export function parseOutline(text: string, input: StoryInput): Outline {
  let title: string | undefined;
  let style: string | undefined;
  let characters: string | undefined;
  const plans = new Map<number, string>();
  for (const line of text.split('\n')) {
    const titled = title === undefined ? labelled(line, 'TITLE') : undefined;
    const styled = titled === undefined && style === undefined ? labelled(line, 'STYLE') : undefined;
    const cast = titled === undefined && styled === undefined && characters === undefined ? labelled(line, 'CHARACTERS') : undefined;
    const page = /^PAGE\s*(\d+)[*:.\s]+(.*)$/i.exec(bare(line));
    if (titled !== undefined) title = titled;
    else if (styled !== undefined) style = styled;
    else if (cast !== undefined) characters = cast;
    else if (page) {
      const n = Number(page[1]);
      const plan = page[2].replace(/\*+$/, '').trim();
      if (n >= 1 && n <= input.pages && plan && !plans.has(n)) plans.set(n, plan);
    }
  }
  return {
    title: title ?? `A Story About ${input.topic}`,
    style: style ?? 'soft watercolour illustrations',
    characters: characters ?? `the characters of a story about ${input.topic}, each drawn the same way on every page`,
    pages: Array.from({ length: input.pages }, (_, i) => ({
      page: i + 1,
      plan: plans.get(i + 1) ?? `Page ${i + 1} of the story of ${input.topic}.`,
    })),
  };
}
