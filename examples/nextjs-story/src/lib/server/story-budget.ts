// Each story's LLM budget (the engine's run budget): exactly the calls its
// page count and quality need, so a story can never cost more than it should
// (a bug or a replay gone wrong fails it with budget_exceeded instead).
// Failed attempts report no usage and are not charged: retries stay free.
import type { RunBudget } from 'storyloom';
import type { StoryInput } from '../story';

/** The outline, then per page: write, critique + revise per quality round, illustration brief. */
export function storyCalls(input: Pick<StoryInput, 'pages' | 'quality'>): number {
  return 1 + input.pages * (2 + 2 * input.quality);
}

export function storyBudget(input: Pick<StoryInput, 'pages' | 'quality'>): RunBudget {
  return { llmCalls: storyCalls(input) };
}
