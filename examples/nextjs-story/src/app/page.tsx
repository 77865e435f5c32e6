import { StoryForm } from '@/components/StoryForm';
import { OFFLINE_LABEL } from '@/lib/story';

export default function Home() {
  return (
    <>
      <h1>Write a story</h1>
      <p className="notice">Text comes from the offline generator: {OFFLINE_LABEL}.</p>
      <StoryForm />
    </>
  );
}
