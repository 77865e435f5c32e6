// Workflow limits: checking the options and turning them into what a claim
// needs (the rules and the bucket keys of a run).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"
#include "storyloom/engine.h"

namespace storyloom::detail {

// A parsed key path: the member names from the input object down.
using KeyPath = std::vector<std::string>;

// Accepts "$.a.b", "a.b" and "a"; throws Error(invalid_argument) naming `what`
// and the path when it is empty or has an empty member name.
KeyPath parse_key_path(std::string_view what, std::string_view path);
// The serialized JSON value at `path`, or "null" when the input lacks it.
std::string key_value(const KeyPath& path, const Json& input);

// Throws Error(invalid_argument) naming the field that is wrong.
void validate_limits(const WorkflowOptions& options);
// Whether the options limit anything a claim must respect.
bool has_limits(const WorkflowOptions& options);
store::ClaimRules claim_rules(const WorkflowOptions& options);
store::RunKeys run_keys(const WorkflowOptions& options, const Json& input);

}  // namespace storyloom::detail
