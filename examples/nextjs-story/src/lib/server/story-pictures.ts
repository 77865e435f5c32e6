// The story's pictures: one per page, drawn after every page's text through
// the engine's image step (ctx.image, memoized like any step), from the page's
// illustration brief with the outline's style, title and characters at the
// head of every prompt (picturePrompt). The picture is the binary artifact
// page/N/picture; its `artifact` event is what the live view shows.
//
// A picture that keeps failing (its retries spent) does not fail the story:
// the page gets "no picture" (picture: null and a page.no_picture event) and
// the story completes. The retry route rewinds the run to that page's image
// step; the texts come before every picture, so no page text is written
// again. A rewind forgets every later step too, so before each image step a
// memoized step looks at the story's last `story` artifact: a picture drawn
// there from the same prompt is kept, not asked for again. So a retry asks for
// the missing picture (and any other still missing), never for one drawn.
import type { Context, Engine, ImageResult } from 'storyloom';
import type { Outline, PictureRef, StoryArtifact, StoryPage } from '../story';
import { picturePrompt } from './prompts';

/** Page N's image step, and the binary artifact its picture is stored as. */
export const pictureKey = (page: number) => `page/${page}/picture`;

export interface PictureCounts {
  done: number;
  failed: number;
  inProgress: number;
}

function refOf(r: ImageResult): PictureRef {
  return {
    artifact: r.artifact,
    version: r.version,
    contentType: r.contentType,
    sha256: r.sha256,
    width: r.width,
    height: r.height,
    provider: r.provider,
    model: r.model,
  };
}

/** The picture page `page` had in the run's latest `story` artifact, if it was drawn from `prompt`. */
async function drawnBefore(engine: Engine, runId: string, page: number, prompt: string): Promise<PictureRef | null> {
  const snap = await engine.snapshot(runId);
  const story = snap.artifacts.find((a) => a.key === 'story' && a.contentType === undefined)?.value as StoryArtifact | undefined;
  const before = story?.pages?.find((p) => p.page === page);
  return before?.picture && before.picturePrompt === prompt ? before.picture : null;
}

/** Errors that end this execution rather than a picture: a retry to come (Parked), a cancel, a closing engine. */
function endsTheExecution(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  const code = (e as { code?: string } | null)?.code;
  return name === 'Parked' || code === 'cancelled' || code === 'closed';
}

/**
 * Draws every page's picture in page order and returns the story's pages
 * with their pictures (null: "no picture"). `report(page, counts)` is called
 * as each picture starts and ends.
 */
export async function illustrate(
  ctx: Context,
  engine: Engine,
  outline: Outline,
  pages: Omit<StoryPage, 'picture' | 'picturePrompt'>[],
  report: (page: number | null, counts: PictureCounts) => void,
): Promise<StoryPage[]> {
  const counts: PictureCounts = { done: 0, failed: 0, inProgress: 0 };
  const out: StoryPage[] = [];
  for (const page of pages) {
    const n = page.page;
    const prompt = picturePrompt(outline, page.illustration);
    let picture = await ctx.step(`page/${n}/picture-kept`, () => drawnBefore(engine, ctx.runId, n, prompt));
    if (picture === null) {
      counts.inProgress = 1;
      report(n, counts);
      try {
        picture = refOf(await ctx.image(pictureKey(n), { prompt, artifact: pictureKey(n) }));
      } catch (e) {
        if (endsTheExecution(e)) throw e;
        ctx.emit('page.no_picture', { page: n, message: e instanceof Error ? e.message : String(e) });
      }
      counts.inProgress = 0;
    }
    if (picture === null) counts.failed++;
    else counts.done++;
    report(n, counts);
    out.push({ ...page, picture, picturePrompt: prompt });
  }
  report(null, counts);
  return out;
}
