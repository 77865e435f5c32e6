// The live view of one story: the server renders its state so far, the
// browser continues live from the snapshot's last event id.
import { notFound } from 'next/navigation';
import { LiveStory } from '@/components/LiveStory';
import { StoryNotifications } from '@/components/StoryNotifications';
import { getEngine } from '@/lib/server/engine';
import { loadStoryState } from '@/lib/server/stories';
import { pageUser } from '@/lib/server/auth/page-user';

export const dynamic = 'force-dynamic';

export default async function StoryPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const user = await pageUser(`/story/${id}`);
  const state = await loadStoryState(await getEngine(), id, user.id); // another user's story: 404
  if (!state) notFound();
  // key: a new snapshot (a reload) starts a new subscription.
  const finished = ['completed', 'failed', 'cancelled'].includes(state.status);
  return (
    <>
      <StoryNotifications id={id} title={state.input.topic} after={state.lastEventId} finished={finished} />
      <LiveStory key={`${id}:${state.lastEventId}`} initial={state} />
    </>
  );
}
