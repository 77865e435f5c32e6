import { StoryForm } from '@/components/StoryForm';
import { writerNotice } from '@/lib/story';
import { getEngine } from '@/lib/server/engine';
import { defaultWriter } from '@/lib/server/llm-config';
import { pageUser } from '@/lib/server/auth/page-user';

// Which provider writes is the running engine's: asked per request, not at build time.
export const dynamic = 'force-dynamic';

export default async function Home() {
  await pageUser('/');
  const writer = await defaultWriter(await getEngine());
  return (
    <>
      <h1>Write a story</h1>
      <p className="notice" data-testid="writer" data-language-model={String(writer.languageModel)}>
        {writerNotice(writer)}
      </p>
      <StoryForm />
    </>
  );
}
