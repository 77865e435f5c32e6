// The reader: a finished story from its `story` artifact.
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { OFFLINE_LABEL, type StoryArtifact } from '@/lib/story';
import { BookDownloads, StoryPicture } from '@/components/StoryPicture';
import { getEngine } from '@/lib/server/engine';
import { isStory } from '@/lib/server/stories';
import { pageUser } from '@/lib/server/auth/page-user';

export const dynamic = 'force-dynamic';

export default async function ReadPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const user = await pageUser(`/story/${id}/read`);
  const engine = await getEngine();
  let snap;
  try {
    snap = await engine.snapshot(id);
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') notFound();
    throw e;
  }
  if (!isStory(snap.run) || snap.run.owner !== user.id) notFound(); // another user's story: 404
  const story = snap.artifacts.find((a) => a.key === 'story')?.value as StoryArtifact | undefined;
  if (!story) {
    return (
      <>
        <h1>Not finished yet</h1>
        <p>
          This story is {snap.run.status}. <Link href={`/story/${id}`}>Follow it live</Link>.
        </p>
      </>
    );
  }
  const placeholders = story.pages.some((p) => p.picture?.provider === 'offline');
  return (
    <div data-testid="reader">
      <h1>{story.title}</h1>
      <p className="notice">
        About {story.topic}, in a {story.author_style} style.{' '}
        {story.writtenBy?.languageModel
          ? `Written by a language model: ${story.generator}.`
          : `Text by the offline generator: ${OFFLINE_LABEL}.`}
        {placeholders && ' Pictures are placeholders drawn offline, not by an image model.'}
      </p>
      <BookDownloads storyId={id} />
      {story.pages.map((page) => (
        <article className="page" key={page.page} data-testid={`reader-page-${page.page}`}>
          <h3>Page {page.page}</h3>
          <StoryPicture
            storyId={id}
            page={page.page}
            shown={page.picture ? { kind: 'picture', version: page.picture.version } : { kind: 'none', why: '' }}
            canRetry={snap.run.status === 'completed'}
          />
          <div className="content">{page.content}</div>
          <div className="meta">Illustration: {page.illustration}</div>
        </article>
      ))}
      <p>
        <Link href={`/story/${id}`}>Live view and event log</Link> · <Link href="/stories">Library</Link>
      </p>
    </div>
  );
}
