// The story workflow: outline → (approval, with optional edits) → per page:
// write → critique/revise × quality → illustration brief → artifact page/N →
// per page a picture (story-pictures.ts) → artifact story. Every piece of
// text comes from generate(), the engine's memoized, streamed llm step, and
// every picture from the engine's image step, so a run resumed after a crash
// or a deploy skips what it has and asks nothing twice.
import type { Context, Engine } from 'storyloom';
import {
  OFFLINE_LABEL,
  STORY_WORKFLOW,
  writerOf,
  type ApprovalPayload,
  type Outline,
  type PageArtifact,
  type StoryArtifact,
  type StoryInput,
  type StoryOutput,
  type StoryProgress,
  type Writer,
} from '../story';
import { generate } from './generate';
import { HOUR_MS, type UserLimits } from './user-limits';
import { emailStoryReady } from './story-email';
import { critiquePrompt, illustrationPrompt, outlinePrompt, revisePrompt, writePrompt, type Prompt } from './prompts';
import { critiqueFromAnswer, outlineFromAnswer } from './structured-answers';
import { illustrate, type PictureCounts } from './story-pictures';

/** Applies the edits carried by an approval (already validated by the route). */
export function editOutline(outline: Outline, edits: ApprovalPayload['outline']): Outline {
  if (!edits) return outline;
  return {
    title: edits.title?.trim() || outline.title,
    style: outline.style,
    characters: outline.characters,
    pages: outline.pages.map((p, i) => ({ page: p.page, plan: edits.plans?.[i]?.trim() || p.plan })),
  };
}

async function writeStory(engine: Engine, ctx: Context, input: StoryInput): Promise<StoryOutput> {
  const total = input.pages;
  let completed = 0;
  let pictures: PictureCounts = { done: 0, failed: 0, inProgress: 0 };
  let title: string | undefined; // the outline's, once there is one
  const report = (stage: StoryProgress['stage'], page: number | null) =>
    ctx.progress({
      pagesTotal: total,
      pagesCompleted: completed,
      pagesFailed: 0,
      pagesInProgress: page === null || stage === 'picture' ? 0 : 1,
      illustrationsTotal: total,
      illustrationsDone: pictures.done,
      illustrationsFailed: pictures.failed,
      illustrationsInProgress: pictures.inProgress,
      page,
      stage,
      ...(title === undefined ? {} : { title }),
    } satisfies StoryProgress);

  // The story says who wrote it; the outline's writer speaks for the book.
  let writtenBy: Writer | undefined;
  const ask = async (step: string, prompt: Prompt) => {
    const answer = await generate(ctx, step, prompt);
    writtenBy ??= writerOf(answer.provider, answer.model);
    return answer;
  };
  const text = async (step: string, prompt: Prompt) => (await ask(step, prompt)).text;

  report('outline', null);
  let outline = outlineFromAnswer(await ask('outline', outlinePrompt(input)), input);
  ctx.artifact('outline', outline);
  title = outline.title;

  if (input.approve_outline) {
    report('awaiting_approval', null);
    const decision = await ctx.waitForSignal<ApprovalPayload>('approve'); // parks the run until approved
    outline = editOutline(outline, decision?.outline);
    ctx.artifact('outline', outline); // a new version only when edited
    title = outline.title;
  }

  const pages: Parameters<typeof illustrate>[3] = [];
  for (const { page: n, plan } of outline.pages) {
    report('writing', n);
    let content = await text(`page/${n}/write`, writePrompt(input, outline, n));
    let critique = '';
    for (let round = 1; round <= input.quality; round++) {
      report('critique', n);
      critique = critiqueFromAnswer(await ask(`page/${n}/critique/${round}`, critiquePrompt(input, outline, n, content)));
      report('revise', n);
      content = await text(`page/${n}/revise/${round}`, revisePrompt(input, outline, n, content, critique));
    }
    report('illustration', n);
    const illustration = await text(`page/${n}/illustration`, illustrationPrompt(input, outline, n, content));
    const artifact: PageArtifact = { content, plan, critique, iteration: input.quality + 1, illustration };
    ctx.artifact(`page/${n}`, artifact);
    pages.push({ page: n, ...artifact });
    completed++;
  }
  // The pictures follow every page's text, so redoing one (a rewind to its
  // step) never writes a page again.
  const illustrated = await illustrate(ctx, engine, outline, pages, (page, counts) => {
    pictures = counts;
    report('picture', page);
  });
  const writer = writtenBy!; // the outline always asks
  const story: StoryArtifact = {
    title: outline.title,
    topic: input.topic,
    author_style: input.author_style,
    visual_style: outline.style,
    characters: outline.characters,
    generator: writer.languageModel ? `${writer.provider} (${writer.model})` : OFFLINE_LABEL,
    writtenBy: writer,
    written_by: { provider: writer.provider, model: writer.model, language_model: writer.languageModel },
    pages: illustrated,
  };
  ctx.artifact('story', story);
  await emailStoryReady(ctx, outline.title);
  report('done', null);
  const cover = illustrated.find((p) => p.picture !== null);
  return { title: outline.title, pages: total, cover: cover ? { page: cover.page, version: cover.picture!.version } : null };
}

/**
 * Registers the story workflow; a failing llm step is tried up to 3 times (a
 * 429 waits out its Retry-After). Per user (the input's owner), at most
 * `limits.runningAtOnce` stories run at once and `limits.storiesPerHour`
 * start per hour (user-limits.ts); the others wait in the queue.
 */
export function registerStoryWorkflow(engine: Engine, limits: UserLimits): void {
  engine.workflow<StoryInput, StoryOutput>(
    STORY_WORKFLOW,
    {
      retry: { maxAttempts: 3, initialBackoffMs: 500, maxBackoffMs: 5000 },
      concurrency: { key: '$.owner', limit: limits.runningAtOnce },
      throttle: { key: '$.owner', limit: limits.storiesPerHour, periodMs: HOUR_MS },
    },
    (ctx, input) => writeStory(engine, ctx, input),
  );
}
