// The engine's side of a run's LLM budget (storyloom/budget.h).
#pragma once

#include <string_view>

#include "storyloom/budget.h"
#include "storyloom/error.h"

namespace storyloom::detail {

// Refuses (invalid_argument) a negative limit, naming it.
void check_budget(const RunBudget& budget);

// The error for a run that used `usage` and has spent `budget`: `refused`
// says what did not happen ("llm step 'page-2' was not sent"), the rest which
// limit and how much was used.
Error budget_exceeded_error(const RunBudget& budget, const RunUsage& usage, std::string_view refused);

// What is left of `budget` after `usage`, as the budget of a child run
// started by invoke: the child cannot spend more than its parent has left.
// Only for a budget that is not spent (a spent one invokes no child).
RunBudget remaining_budget(const RunBudget& budget, const RunUsage& usage);

}  // namespace storyloom::detail
