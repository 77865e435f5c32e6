// A run's LLM budget and what its llm steps used: the typed forms of the
// engine's "budget" and "usage" JSON (storyloom.h, "JSON shapes").
import { invalid, objectOf } from './check';

/** What a run's llm steps may spend; 0 or absent: no limit. Once reached, the next llm step fails with BudgetExceededError without a request. */
export interface RunBudget {
  llmCalls?: number;
  llmTokens?: number;
}

/** What the completed llm steps of one provider and model used. */
export interface ModelUsage {
  provider: string;
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** What a run's completed llm steps used (failed attempts report none). */
export interface RunUsage {
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  byModel: ModelUsage[];
}

/** A run's budget against its usage; remaining* is null for a limit that is not set. */
export interface BudgetStatus {
  llmCalls: number;
  llmTokens: number;
  spentLlmCalls: number;
  spentLlmTokens: number;
  remainingLlmCalls: number | null;
  remainingLlmTokens: number | null;
  exceeded: boolean;
}

const BUDGET = ['llmCalls', 'llmTokens'] as const;

/** The engine's {"llm_calls","llm_tokens"} for a budget option; refuses what is not a whole number >= 0, naming it. */
export function budgetJson(where: string, value: unknown): { llm_calls: number; llm_tokens: number } {
  const o = objectOf(where, value, BUDGET);
  const limit = (key: string): number => {
    const v = o[key];
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw invalid(`${where}.${key} must be a whole number >= 0 (0: no limit), got ${JSON.stringify(v) ?? String(v)}`);
    }
    return v;
  };
  return { llm_calls: limit('llmCalls'), llm_tokens: limit('llmTokens') };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export function toBudget(b: any): RunBudget {
  return { llmCalls: b?.llm_calls ?? 0, llmTokens: b?.llm_tokens ?? 0 };
}

export function toUsage(u: any): RunUsage {
  return {
    llmCalls: u?.llm_calls ?? 0,
    inputTokens: u?.input_tokens ?? 0,
    outputTokens: u?.output_tokens ?? 0,
    totalTokens: u?.total_tokens ?? 0,
    byModel: (u?.by_model ?? []).map((m: any) => ({
      provider: m.provider,
      model: m.model,
      calls: m.calls,
      inputTokens: m.input_tokens,
      outputTokens: m.output_tokens,
      totalTokens: m.total_tokens,
    })),
  };
}

export function toBudgetStatus(b: any): BudgetStatus {
  return {
    llmCalls: b?.llm_calls ?? 0,
    llmTokens: b?.llm_tokens ?? 0,
    spentLlmCalls: b?.spent_llm_calls ?? 0,
    spentLlmTokens: b?.spent_llm_tokens ?? 0,
    remainingLlmCalls: b?.remaining_llm_calls ?? null,
    remainingLlmTokens: b?.remaining_llm_tokens ?? null,
    exceeded: b?.exceeded ?? false,
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
