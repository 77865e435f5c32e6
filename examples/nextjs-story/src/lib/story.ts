// The story's data shapes, shared by the workflow, the API routes and the
// browser: the workflow's input, the artifacts it stores, and its progress.

/** What POST /api/story/generate accepts (after validation). */
export interface StoryInput {
  topic: string;
  author_style: string;
  /** 1..20 */
  pages: number;
  /** Critique/revise rounds per page, 0..3. */
  quality: number;
  /** Wait for POST /api/story/[id]/approve after the outline. */
  approve_outline: boolean;
  /** The user's id, set by the server (never by the client): the engine's per-user limits key on it. */
  owner?: string;
}

export interface OutlinePage {
  page: number;
  plan: string;
}

/** Artifact `outline`; a new version when the outline is edited at approval. */
export interface Outline {
  title: string;
  /** The visual style of the illustrations, a few words. */
  style: string;
  /** The characters and how each looks, carried into every picture prompt so they are drawn alike. */
  characters: string;
  pages: OutlinePage[];
}

/** Who wrote a story's text: an engine LLM provider, "offline" being no language model. */
export interface Writer {
  provider: string;
  model: string;
  languageModel: boolean;
}

/** Artifact `page/N`. */
export interface PageArtifact {
  content: string;
  plan: string;
  critique: string;
  /** 1 + the revisions made. */
  iteration: number;
  illustration: string;
}

/** A page's picture: version `version` of the binary artifact `artifact` ("page/N/picture"). */
export interface PictureRef {
  artifact: string;
  version: number;
  contentType: string;
  sha256: string;
  width: number;
  height: number;
  /** The image provider and model that drew it; "offline" draws a labelled placeholder, not an image model. */
  provider: string;
  model: string;
}

/** A page of the finished story: its text, and its picture or null ("no picture"). */
export interface StoryPage extends PageArtifact {
  page: number;
  picture: PictureRef | null;
  /** What the picture was asked with: a redo of the story keeps a picture whose prompt did not change. */
  picturePrompt: string;
}

/** Artifact `story`, stored when every page is written and illustrated. */
export interface StoryArtifact {
  title: string;
  topic: string;
  author_style: string;
  visual_style: string;
  characters: string;
  /** Names what wrote the text: OFFLINE_LABEL, or "provider (model)". */
  generator: string;
  writtenBy: Writer;
  /** The same, as the book library reads it for the author line of an EPUB or PDF. */
  written_by: { provider: string; model: string; language_model: boolean };
  pages: StoryPage[];
}

/** The story workflow's output: the library's title and cover. */
export interface StoryOutput {
  title: string;
  pages: number;
  /** The first page with a picture, or null. */
  cover: { page: number; version: number } | null;
}

/** N of the text artifact key "page/N"; null for any other key ("page/N/picture" included). */
export function pageNumberOf(key: string): number | null {
  const m = /^page\/(\d+)$/.exec(key);
  return m ? Number(m[1]) : null;
}

/** N of the picture artifact key "page/N/picture", else null. */
export function pictureNumberOf(key: string): number | null {
  const m = /^page\/(\d+)\/picture$/.exec(key);
  return m ? Number(m[1]) : null;
}

/** The route that serves a page's picture; with a version the URL never changes meaning, so it is cached for good. */
export function pictureUrl(storyId: string, page: number, version?: number): string {
  return `/api/story/${storyId}/picture/${page}${version === undefined ? '' : `?v=${version}`}`;
}

export type StoryStage = 'queued' | 'outline' | 'awaiting_approval' | 'writing' | 'critique' | 'revise' | 'illustration' | 'picture' | 'done';

/** The run's progress, set by the workflow. */
export interface StoryProgress {
  pagesTotal: number;
  pagesCompleted: number;
  pagesFailed: number;
  pagesInProgress: number;
  /** Pictures: one per page, drawn after every page's text. */
  illustrationsTotal: number;
  illustrationsDone: number;
  /** Pictures that kept failing: their pages show "no picture". */
  illustrationsFailed: number;
  illustrationsInProgress: number;
  /** The page being written or illustrated, or null. */
  page: number | null;
  stage: StoryStage;
  /** The outline's title once there is one (so the library shows the same title as the story). */
  title?: string;
}

/** The signal payload of POST /api/story/[id]/approve: approve as is, or with edits. */
export interface ApprovalPayload {
  approved: true;
  outline?: { title?: string; plans?: string[] };
}

export const STORY_WORKFLOW = 'story';
export const OFFLINE_LABEL = 'offline text, not a language model';
/** The engine's offline provider: deterministic placeholder text made from the prompt. */
export const OFFLINE_PROVIDER = 'offline';

export function writerOf(provider: string, model: string): Writer {
  return { provider, model, languageModel: provider !== OFFLINE_PROVIDER };
}

/** What the UI says about who writes (or wrote) the text. */
export function writerNotice(writer: Writer): string {
  return writer.languageModel
    ? `Text is written by a language model: ${writer.provider} (${writer.model}).`
    : `Text comes from the offline generator: ${OFFLINE_LABEL}. Set OPENAI_API_KEY, ANTHROPIC_API_KEY or OPENROUTER_API_KEY for a language model.`;
}

export const RUN_FINISHED = ['completed', 'failed', 'cancelled'];

export function emptyProgress(pagesTotal: number): StoryProgress {
  return {
    pagesTotal,
    pagesCompleted: 0,
    pagesFailed: 0,
    pagesInProgress: 0,
    illustrationsTotal: pagesTotal,
    illustrationsDone: 0,
    illustrationsFailed: 0,
    illustrationsInProgress: 0,
    page: null,
    stage: 'queued',
  };
}

/**
 * The progress as shown: a run that failed while writing a page counts that
 * page as failed (a failed step ends the run, so the workflow cannot).
 */
export function progressOf(status: string, raw: unknown, pagesTotal: number): StoryProgress {
  const p = { ...emptyProgress(pagesTotal), ...(raw && typeof raw === 'object' ? (raw as Partial<StoryProgress>) : {}) };
  if (status === 'failed' && p.pagesInProgress > 0) {
    return { ...p, pagesFailed: p.pagesFailed + p.pagesInProgress, pagesInProgress: 0, illustrationsInProgress: 0 };
  }
  if (status === 'failed' || status === 'cancelled') return { ...p, pagesInProgress: 0, illustrationsInProgress: 0 };
  return p;
}

/** A story's one title, everywhere: the finished story's, else its outline's, else its topic. */
export function storyTitle(story: { title: string } | null | undefined, outline: { title: string } | null | undefined, input: { topic: string }): string {
  return story?.title ?? outline?.title ?? input.topic;
}
