// What the story asks a language model, per kind of text: the prompts of the
// C++ story example (examples/story/prompts.cc), and the outline's answer
// form ("TITLE: <the title>", "PAGE 1: <what happens on page 1, ...>"), which
// a model fills in and so does the engine's offline provider, one line each.
import type { Outline, StoryInput } from '../story';

export interface Prompt {
  system: string;
  user: string;
  maxTokens: number;
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
  const lines = [
    `Plan an illustrated story about ${input.topic} in exactly ${input.pages} pages. Answer in exactly this form and nothing else, one line each:`,
    'TITLE: <the title>',
    'STYLE: <the visual style of the illustrations, a few words>',
  ];
  for (let page = 1; page <= input.pages; page++) lines.push(`PAGE ${page}: <what happens on page ${page}, one or two sentences>`);
  return { system: system(input), user: lines.join('\n'), maxTokens: 200 + 80 * input.pages };
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
      `Critique ${pageOf(input, page)} of "${outline.title}" (plan: ${planOf(outline, page)}) in two or three sentences, ` +
      `ending with the single most useful change.\n\n${draft}`,
    maxTokens: 200,
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
 * TITLE, STYLE and PAGE N lines count; what is missing gets a plain default.
 */
export function parseOutline(text: string, input: StoryInput): Outline {
  let title: string | undefined;
  let style: string | undefined;
  const plans = new Map<number, string>();
  for (const line of text.split('\n')) {
    const titled = title === undefined ? labelled(line, 'TITLE') : undefined;
    const styled = titled === undefined && style === undefined ? labelled(line, 'STYLE') : undefined;
    const page = /^PAGE\s*(\d+)[*:.\s]+(.*)$/i.exec(bare(line));
    if (titled !== undefined) title = titled;
    else if (styled !== undefined) style = styled;
    else if (page) {
      const n = Number(page[1]);
      const plan = page[2].replace(/\*+$/, '').trim();
      if (n >= 1 && n <= input.pages && plan && !plans.has(n)) plans.set(n, plan);
    }
  }
  return {
    title: title ?? `A Story About ${input.topic}`,
    style: style ?? 'soft watercolour illustrations',
    pages: Array.from({ length: input.pages }, (_, i) => ({
      page: i + 1,
      plan: plans.get(i + 1) ?? `Page ${i + 1} of the story of ${input.topic}.`,
    })),
  };
}
