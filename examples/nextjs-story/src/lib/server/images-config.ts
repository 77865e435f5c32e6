// The engine's image providers, which draw the story's pictures. Offline by
// default: the engine's placeholder painter draws a deterministic picture from
// the prompt, labelled on the picture itself as a placeholder (not an image
// model), so the app needs no key and no network. An images API is chosen
// explicitly, never because a key happens to be set:
// - STORY_IMAGES_BASE_URL (+ STORY_IMAGES_API_KEY, STORY_IMAGES_MODEL,
//   STORY_IMAGES_SIZE): any OpenAI-compatible POST {base}/images/generations,
//   registered as the provider "story-images" and made the default;
// - else the engine's own variables: STORYLOOM_IMAGE_PROVIDER=openai with
//   OPENAI_API_KEY (OPENAI_IMAGE_MODEL, OPENAI_IMAGE_SIZE), docs/image_step.md.
import type { ImageOptions, ImageProviderOptions } from 'storyloom';

export const STORY_IMAGES_PROVIDER = 'story-images';

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

export function imageOptions(): ImageOptions {
  const baseUrl = env('STORY_IMAGES_BASE_URL');
  if (baseUrl === undefined) return { useEnvironment: true };
  const provider: ImageProviderOptions = { name: STORY_IMAGES_PROVIDER, kind: 'openai', baseUrl };
  // The key goes to the engine, which sends it as a header and nowhere else.
  const apiKey = env('STORY_IMAGES_API_KEY');
  const model = env('STORY_IMAGES_MODEL');
  const size = env('STORY_IMAGES_SIZE');
  if (apiKey !== undefined) provider.apiKey = apiKey;
  provider.model = model ?? 'dall-e-3'; // a provider needs a model; a local server may ignore it
  if (size !== undefined) provider.size = size;
  return { useEnvironment: true, providers: [provider], defaultProvider: STORY_IMAGES_PROVIDER };
}
