// Engine configuration as JSON: how hosts without C++ structs (the C ABI,
// Node, Python, the CLI) pass LLM providers and resource limits.
//
//   {"durability": "full"|"normal",
//    "llm": {"default_provider": "openai", "use_environment": true,
//            "providers": [{"name", "kind": "openai"|"anthropic"|"offline",
//                           "base_url", "api_key", "model", "resource",
//                           "connect_timeout_ms", "idle_timeout_ms",
//                           "offline_word_delay_ms"}]},
//    "images": {"default_provider": "offline", "use_environment": true,
//               "providers": [{"name", "kind": "openai"|"offline", "base_url",
//                              "api_key", "model", "size": "1024x1024", "resource",
//                              "connect_timeout_ms", "idle_timeout_ms"}]},
//    "resources": {"llm:openai": {"requests", "period_ms", "burst",
//                                 "max_in_flight", "tokens_per_minute"}},
//    "max_json_depth": 32}
//
// Every key is optional. Unknown keys and wrong types throw
// Error(invalid_argument) naming the path ("config.llm.providers[0].kind").
#pragma once

#include "storyloom/engine.h"
#include "storyloom/json.h"
#include "storyloom/resource.h"

namespace storyloom {

// Applies `config` (a JSON object) to `options`: providers are appended,
// resources set, the rest replaced where given.
void apply_engine_config(EngineOptions& options, const Json& config);

// {"requests", "period_ms", "burst", "max_in_flight", "tokens_per_minute"};
// `where` names it in errors. Limits are validated when configured.
ResourceLimits resource_limits_from_json(const Json& json, const std::string& where);
Json to_json(const ResourceStatus& status);

}  // namespace storyloom
