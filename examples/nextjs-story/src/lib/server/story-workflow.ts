// The story workflow: outline → (approval, with optional edits) → per page:
// write → critique/revise × quality → illustration brief → artifact page/N →
// artifact story. Every piece of text comes from generate(), a memoized,
// streamed step, so a run resumed after a crash or a deploy skips what it has.
import type { Context, Engine } from 'storyloom';
import {
  OFFLINE_LABEL,
  STORY_WORKFLOW,
  type ApprovalPayload,
  type Outline,
  type PageArtifact,
  type StoryArtifact,
  type StoryInput,
  type StoryProgress,
} from '../story';
import { generate } from './generate';
import { critiquePrompt, illustrationPrompt, outlinePrompt, parseOutline, revisePrompt, writePrompt } from './prompts';

export interface StoryOutput {
  title: string;
  pages: number;
}

/** Applies the edits carried by an approval (already validated by the route). */
export function editOutline(outline: Outline, edits: ApprovalPayload['outline']): Outline {
  if (!edits) return outline;
  return {
    title: edits.title?.trim() || outline.title,
    pages: outline.pages.map((p, i) => ({ page: p.page, plan: edits.plans?.[i]?.trim() || p.plan })),
  };
}

async function writeStory(ctx: Context, input: StoryInput): Promise<StoryOutput> {
  const total = input.pages;
  let completed = 0;
  const report = (stage: StoryProgress['stage'], page: number | null) =>
    ctx.progress({
      pagesTotal: total,
      pagesCompleted: completed,
      pagesFailed: 0,
      pagesInProgress: page === null ? 0 : 1,
      page,
      stage,
    } satisfies StoryProgress);

  report('outline', null);
  let outline = parseOutline(await generate(ctx, 'outline', outlinePrompt(input)), input);
  ctx.artifact('outline', outline);

  if (input.approve_outline) {
    report('awaiting_approval', null);
    const decision = await ctx.waitForSignal<ApprovalPayload>('approve'); // parks the run until approved
    outline = editOutline(outline, decision?.outline);
    ctx.artifact('outline', outline); // a new version only when edited
  }

  const pages: StoryArtifact['pages'] = [];
  for (const { page: n, plan } of outline.pages) {
    report('writing', n);
    let content = await generate(ctx, `page/${n}/write`, writePrompt(input, outline, n, plan));
    let critique = '';
    for (let round = 1; round <= input.quality; round++) {
      report('critique', n);
      critique = await generate(ctx, `page/${n}/critique/${round}`, critiquePrompt(input, n, content));
      report('revise', n);
      content = await generate(ctx, `page/${n}/revise/${round}`, revisePrompt(input, n, content, critique));
    }
    report('illustration', n);
    const illustration = await generate(ctx, `page/${n}/illustration`, illustrationPrompt(input, n, content));
    const artifact: PageArtifact = { content, plan, critique, iteration: input.quality + 1, illustration };
    ctx.artifact(`page/${n}`, artifact);
    pages.push({ page: n, ...artifact });
    completed++;
  }
  const story: StoryArtifact = {
    title: outline.title,
    topic: input.topic,
    author_style: input.author_style,
    generator: OFFLINE_LABEL,
    pages,
  };
  ctx.artifact('story', story);
  report('done', null);
  return { title: outline.title, pages: total };
}

/** Registers the story workflow; a failing generation step is tried up to 3 times. */
export function registerStoryWorkflow(engine: Engine): void {
  engine.workflow<StoryInput, StoryOutput>(
    STORY_WORKFLOW,
    { retry: { maxAttempts: 3, initialBackoffMs: 500, maxBackoffMs: 5000 } },
    writeStory,
  );
}
