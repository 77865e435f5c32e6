// A run's LLM budget and what its llm steps have used so far.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storyloom/json.h"

namespace storyloom {

// The most a run may spend on llm steps, set when it starts (StartOptions) and
// kept with the run. Each limit is checked before an llm step calls its
// provider: once the run's completed llm steps have used `llm_calls` calls or
// `llm_tokens` tokens (total_tokens as the providers report them), the next
// llm step fails with ErrorCode::budget_exceeded (class fatal, never retried)
// without a request, and the run fails unless the workflow catches it. A
// call's tokens are known only once it ends, so the token limit can be passed
// by the last call it allowed. Memoized steps cost nothing again. 0: no limit.
struct RunBudget {
  int64_t llm_calls = 0;
  int64_t llm_tokens = 0;
  bool limited() const { return llm_calls > 0 || llm_tokens > 0; }
};

// What the completed llm steps of one provider and model used.
struct ModelUsage {
  std::string provider;
  std::string model;
  int64_t calls = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t total_tokens = 0;
};

// What a run's completed llm steps used in all (failed attempts report no
// usage and are not counted), and per provider and model.
struct RunUsage {
  int64_t llm_calls = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t total_tokens = 0;
  std::vector<ModelUsage> by_model;  // sorted by provider, then model

  // Adds one completed llm step's stored result ({"usage", "provider", "model"}).
  void add_llm_result(const Json& result);
};

// {"llm_calls", "llm_tokens"} (0: no limit); refuses (invalid_argument naming
// `where`) a negative or non-integer field or an unknown one.
Json to_json(const RunBudget& budget);
RunBudget budget_from_json(const Json& json, const std::string& where);
// {"llm_calls", "input_tokens", "output_tokens", "total_tokens",
//  "by_model": [{"provider", "model", "calls", "input_tokens", "output_tokens", "total_tokens"}]}
Json to_json(const RunUsage& usage);
// What is left of a budget: {"llm_calls", "llm_tokens", "spent_llm_calls",
// "spent_llm_tokens", "remaining_llm_calls", "remaining_llm_tokens",
// "exceeded"}; remaining_* is null for a limit that is not set; "exceeded"
// is true once a limit is used up (budget_spent: the next llm step is refused),
// also for a run that finished having used exactly its budget.
Json budget_status_json(const RunBudget& budget, const RunUsage& usage);
// Whether a run that used `usage` may not start another llm call.
bool budget_spent(const RunBudget& budget, const RunUsage& usage);

}  // namespace storyloom
