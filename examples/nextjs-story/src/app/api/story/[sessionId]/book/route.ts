// GET /api/story/[sessionId]/book?format=epub|pdf: the finished story as a
// book, written by storyloom's book library (engine.exportBook): EPUB 3
// (application/epub+zip) or PDF (a cover, then a page per story page with its
// picture), as an attachment named after the title.
// 400 another format; 401 signed out; 404 unknown or another user's story;
// 409 not finished.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { StoryArtifact } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { errorResponse, json, unknownSession } from '@/lib/server/http';
import { ownedRun, requireUser } from '@/lib/server/auth/guard';

export const dynamic = 'force-dynamic';

const FORMATS = { epub: 'application/epub+zip', pdf: 'application/pdf' } as const;
type Format = keyof typeof FORMATS;

/** A file name from the title: ASCII letters and digits, words joined by dashes. */
function fileName(title: string, format: Format): string {
  const slug = title.normalize('NFKD').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80).toLowerCase();
  return `${slug || 'story'}.${format}`;
}

export async function GET(request: Request, { params }: { params: Promise<{ sessionId: string }> }): Promise<Response> {
  const { sessionId } = await params;
  const user = await requireUser(request);
  if (!user.ok) return user.response;
  const format = new URL(request.url).searchParams.get('format') ?? '';
  if (!(format in FORMATS)) return json({ error: `format must be epub or pdf, got '${format}'` }, 400);
  let dir: string | undefined;
  try {
    const engine = await getEngine();
    const owned = await ownedRun(engine, sessionId, user.value);
    if (!owned.ok) return owned.response;
    if (owned.value.status !== 'completed') {
      return json({ error: `story '${sessionId}' is ${owned.value.status}: it can be downloaded once it has finished` }, 409);
    }
    // The book library writes files; each request gets a folder of its own, removed after.
    dir = await mkdtemp(path.join(tmpdir(), 'story-book-'));
    const file = path.join(dir, `book.${format}`);
    await engine.exportBook(sessionId, format as Format, file);
    const bytes = await readFile(file);
    const story = (await engine.snapshot(sessionId)).artifacts.find((a) => a.key === 'story')?.value as StoryArtifact | undefined;
    return new Response(new Uint8Array(bytes), {
      headers: {
        'content-type': FORMATS[format as Format],
        'content-disposition': `attachment; filename="${fileName(story?.title ?? '', format as Format)}"`,
        'cache-control': 'private, no-store',
      },
    });
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') return unknownSession(sessionId);
    return errorResponse(e);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
