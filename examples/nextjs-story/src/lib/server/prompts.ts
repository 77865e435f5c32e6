// The prompts of the story workflow. Labelled lines ("Topic: ...") and
// blocks ("Draft:" then text) keep them readable for a language model and
// let the offline generator find its inputs.
import type { Outline, StoryInput } from '../story';

function header(input: StoryInput): string {
  return `Topic: ${input.topic}\nStyle: ${input.author_style}`;
}

export function outlinePrompt(input: StoryInput): string {
  return `Plan a picture-book story of exactly ${input.pages} pages. Answer with a "Title: ..." line, then one "Page N: ..." line per page.\n${header(input)}\nPages: ${input.pages}`;
}

export function writePrompt(input: StoryInput, outline: Outline, page: number, plan: string): string {
  return `Write page ${page} of "${outline.title}" as prose for reading aloud, following its plan.\n${header(input)}\nPlan: ${plan}`;
}

export function critiquePrompt(input: StoryInput, page: number, draft: string): string {
  return `Critique page ${page} in one or two sentences: what would make it better?\n${header(input)}\n\nDraft:\n${draft}\n\n`;
}

export function revisePrompt(input: StoryInput, page: number, draft: string, critique: string): string {
  return `Revise page ${page} following the critique. Answer with the page text only.\n${header(input)}\n\nDraft:\n${draft}\n\nCritique:\n${critique}\n\n`;
}

export function illustrationPrompt(input: StoryInput, page: number, content: string): string {
  return `Write a one-sentence brief for the illustration of page ${page}.\n${header(input)}\n\nPage:\n${content}\n\n`;
}

/** Reads the outline text: a "Title:" line and "Page N:" lines (missing pages get a plain plan). */
export function parseOutline(text: string, input: StoryInput): Outline {
  const title = /^Title:\s*(.+)$/m.exec(text)?.[1]?.trim() || input.topic;
  const plans = new Map<number, string>();
  for (const m of text.matchAll(/^Page (\d+):\s*(.+)$/gm)) plans.set(Number(m[1]), m[2].trim());
  const pages = Array.from({ length: input.pages }, (_, i) => ({
    page: i + 1,
    plan: plans.get(i + 1) ?? `Continue the story of ${input.topic}.`,
  }));
  return { title, pages };
}
