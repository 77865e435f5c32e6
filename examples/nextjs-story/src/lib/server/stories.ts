// Reads for the routes and pages: a story's state (snapshot + stored events),
// its status, and the library of stories.
import type { Engine, Run } from 'storyloom';
import {
  pageNumberOf,
  pictureNumberOf,
  progressOf,
  STORY_WORKFLOW,
  storyTitle,
  type ApprovalPayload,
  type Outline,
  type PageArtifact,
  type StoryArtifact,
  type StoryInput,
  type StoryOutput,
} from '../story';
import { applyEvent, type PictureState, type StoryState } from '../story-state';
import { defaultWriter } from './llm-config';

/** Is this run a story (and not, say, a health probe)? */
export function isStory(run: Run): boolean {
  return run.workflow === STORY_WORKFLOW;
}

/**
 * The live view's starting state: the snapshot (run, latest artifacts, last
 * event id) plus the stored events up to that id, for the streamed text of
 * pages still being written. The browser subscribes after lastEventId.
 */
export async function loadStoryState(engine: Engine, id: string, owner: string): Promise<StoryState | null> {
  let snap;
  try {
    snap = await engine.snapshot(id);
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return null;
    throw e;
  }
  if (!isStory(snap.run) || snap.run.owner !== owner) return null; // another user's story is no story
  const input = snap.run.input as StoryInput;
  let state: StoryState = {
    id,
    status: 'queued',
    input,
    progress: progressOf('queued', null, input.pages),
    outline: null,
    pages: {},
    pictures: {},
    noPicture: {},
    story: null,
    streams: {},
    activeStream: null,
    writer: await defaultWriter(engine),
    error: null,
    lastEventId: 0,
    gaps: 0,
    chunks: 0,
    log: [],
  };
  for (let after = 0; after < snap.lastEventId; ) {
    const events = await engine.storedEvents(id, { after, limit: 5000 });
    if (events.length === 0) break;
    for (const e of events) if (e.id <= snap.lastEventId) state = applyEvent(state, e);
    after = events[events.length - 1].id;
  }
  const artifacts = Object.fromEntries(snap.artifacts.map((a) => [a.key, a.value]));
  const pages: Record<number, PageArtifact> = {};
  const pictures: Record<number, PictureState> = {};
  for (const a of snap.artifacts) {
    const page = pageNumberOf(a.key);
    const pictured = a.contentType ? pictureNumberOf(a.key) : null;
    if (page !== null) pages[page] = a.value as PageArtifact;
    else if (pictured !== null) pictures[pictured] = { version: a.version, contentType: a.contentType! };
  }
  return {
    ...state,
    status: snap.run.status,
    progress: progressOf(snap.run.status, snap.run.progress, input.pages),
    outline: (artifacts.outline as Outline | undefined) ?? null,
    story: (artifacts.story as StoryArtifact | undefined) ?? null,
    pages,
    pictures,
    error: snap.run.error?.message ?? null,
    lastEventId: snap.lastEventId,
  };
}

export interface StorySummary {
  id: string;
  title: string;
  topic: string;
  author_style: string;
  pages: number;
  quality: number;
  status: string;
  pagesCompleted: number;
  /** The page whose picture is the story's cover (a finished story's first picture), or null. */
  cover: { page: number; version: number } | null;
  createdAtMs: number;
  finishedAtMs: number;
}

function summary(run: Run): StorySummary {
  const input = run.input as StoryInput;
  const output = run.output as Partial<StoryOutput> | null;
  const progress = run.progress as { title?: string } | null;
  return {
    id: run.id,
    // The same title as the story's page (storyTitle): finished, else the outline's, else the topic.
    title: storyTitle(output?.title ? { title: output.title } : null, progress?.title ? { title: progress.title } : null, input),
    topic: input.topic,
    author_style: input.author_style,
    pages: input.pages,
    quality: input.quality,
    status: run.status,
    pagesCompleted: progressOf(run.status, run.progress, input.pages).pagesCompleted,
    cover: run.status === 'completed' ? (output?.cover ?? null) : null,
    createdAtMs: run.createdAtMs,
    finishedAtMs: run.finishedAtMs,
  };
}

/** Every story of the user `owner` (their id), newest first (at most `limit`). */
export async function listStories(engine: Engine, owner: string, limit = 500): Promise<StorySummary[]> {
  const runs: Run[] = [];
  let after = '';
  do {
    const page = await engine.list({ workflow: STORY_WORKFLOW, owner, limit: 1000, after });
    runs.push(...page.runs);
    after = page.nextCursor;
  } while (after !== '');
  return runs.reverse().slice(0, limit).map(summary);
}

/** The approval the story received (the payload of its first `approve` signal), or null. */
export async function firstApproval(engine: Engine, id: string): Promise<ApprovalPayload | null> {
  for (let after = 0; ; ) {
    const events = await engine.storedEvents(id, { after, limit: 1000 });
    if (events.length === 0) return null;
    const received = events.find((e) => e.type === 'signal.received' && (e.data as { name?: string }).name === 'approve');
    if (received) return (received.data as { payload: ApprovalPayload }).payload;
    after = events[events.length - 1].id;
  }
}
