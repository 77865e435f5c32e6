// A run's LLM budget: its JSON forms, the usage its completed llm steps add up
// to, and the check an llm step makes before it calls its provider.
#include <algorithm>
#include <string>
#include <utility>
#include <tuple>

#include "storyloom/budget.h"
#include "storyloom/error.h"
#include "engine/run_budget.h"

namespace storyloom {
namespace {

int64_t int_member(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

std::string string_member(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

Json remaining(int64_t limit, int64_t spent) {
  if (limit <= 0) return nullptr;
  return std::max<int64_t>(0, limit - spent);
}

}  // namespace

void RunUsage::add_llm_result(const Json& result) {
  if (!result.is_object()) return;
  const auto& o = result.as_object();
  int64_t in = 0, out = 0, total = 0;
  if (const auto* u = o.if_contains("usage"); u && u->is_object()) {
    in = int_member(u->as_object(), "input_tokens");
    out = int_member(u->as_object(), "output_tokens");
    total = int_member(u->as_object(), "total_tokens");
    if (total == 0) total = in + out;
  }
  std::string provider = string_member(o, "provider");
  std::string model = string_member(o, "model");
  llm_calls += 1;
  input_tokens += in;
  output_tokens += out;
  total_tokens += total;
  auto at = std::lower_bound(by_model.begin(), by_model.end(), std::tie(provider, model),
                             [](const ModelUsage& m, const std::tuple<std::string&, std::string&>& k) {
                               return std::tie(m.provider, m.model) < k;
                             });
  if (at == by_model.end() || at->provider != provider || at->model != model) {
    ModelUsage first;
    first.provider = provider;
    first.model = model;
    at = by_model.insert(at, std::move(first));
  }
  at->calls += 1;
  at->input_tokens += in;
  at->output_tokens += out;
  at->total_tokens += total;
}

Json to_json(const RunBudget& budget) {
  return boost::json::object{{"llm_calls", budget.llm_calls}, {"llm_tokens", budget.llm_tokens}};
}

RunBudget budget_from_json(const Json& json, const std::string& where) {
  if (!json.is_object()) {
    throw Error(ErrorCode::invalid_argument,
                where + " must be an object {\"llm_calls\", \"llm_tokens\"}, got " +
                    boost::json::serialize(json));
  }
  RunBudget budget;
  for (const auto& [key, value] : json.as_object()) {
    int64_t* field = key == "llm_calls" ? &budget.llm_calls
                     : key == "llm_tokens" ? &budget.llm_tokens
                                           : nullptr;
    if (field == nullptr) {
      throw Error(ErrorCode::invalid_argument,
                  where + " has an unknown field '" + std::string(key) +
                      "' (known: llm_calls, llm_tokens)");
    }
    if (value.is_null()) continue;
    if (!value.is_int64() || value.as_int64() < 0) {
      throw Error(ErrorCode::invalid_argument, where + "." + std::string(key) +
                                                   " must be an integer >= 0 (0: no limit), got " +
                                                   boost::json::serialize(value));
    }
    *field = value.as_int64();
  }
  return budget;
}

Json to_json(const RunUsage& usage) {
  boost::json::array models;
  for (const auto& m : usage.by_model) {
    models.push_back(boost::json::object{{"provider", m.provider},
                                         {"model", m.model},
                                         {"calls", m.calls},
                                         {"input_tokens", m.input_tokens},
                                         {"output_tokens", m.output_tokens},
                                         {"total_tokens", m.total_tokens}});
  }
  return boost::json::object{{"llm_calls", usage.llm_calls},
                             {"input_tokens", usage.input_tokens},
                             {"output_tokens", usage.output_tokens},
                             {"total_tokens", usage.total_tokens},
                             {"by_model", std::move(models)}};
}

bool budget_spent(const RunBudget& budget, const RunUsage& usage) {
  return (budget.llm_calls > 0 && usage.llm_calls >= budget.llm_calls) ||
         (budget.llm_tokens > 0 && usage.total_tokens >= budget.llm_tokens);
}

Json budget_status_json(const RunBudget& budget, const RunUsage& usage) {
  return boost::json::object{{"llm_calls", budget.llm_calls},
                             {"llm_tokens", budget.llm_tokens},
                             {"spent_llm_calls", usage.llm_calls},
                             {"spent_llm_tokens", usage.total_tokens},
                             {"remaining_llm_calls", remaining(budget.llm_calls, usage.llm_calls)},
                             {"remaining_llm_tokens", remaining(budget.llm_tokens, usage.total_tokens)},
                             {"exceeded", budget_spent(budget, usage)}};
}

}  // namespace storyloom

namespace storyloom::detail {

void check_budget(const RunBudget& budget) {
  for (auto [name, value] : {std::pair{"budget.llm_calls", budget.llm_calls},
                             std::pair{"budget.llm_tokens", budget.llm_tokens}}) {
    if (value < 0) {
      throw Error(ErrorCode::invalid_argument, std::string(name) +
                                                   " must be >= 0 (0: no limit), got " +
                                                   std::to_string(value));
    }
  }
}

Error budget_exceeded_error(const RunBudget& budget, const RunUsage& usage, std::string_view refused) {
  std::string why;
  if (budget.llm_calls > 0 && usage.llm_calls >= budget.llm_calls) {
    why = "its " + std::to_string(usage.llm_calls) + " of " + std::to_string(budget.llm_calls) +
          " LLM calls are used";
  } else {
    why = std::to_string(usage.total_tokens) + " of its " + std::to_string(budget.llm_tokens) +
          " LLM tokens are used";
  }
  return Error(ErrorCode::budget_exceeded,
               std::string(refused) + ": the run's budget is spent (" + why + ")",
               ErrorClass::fatal);
}

RunBudget remaining_budget(const RunBudget& budget, const RunUsage& usage) {
  // Callers check budget_spent() first: 0 here would mean "no limit".
  RunBudget left;
  if (budget.llm_calls > 0) left.llm_calls = std::max<int64_t>(budget.llm_calls - usage.llm_calls, 0);
  if (budget.llm_tokens > 0) left.llm_tokens = std::max<int64_t>(budget.llm_tokens - usage.total_tokens, 0);
  return left;
}

}  // namespace storyloom::detail
