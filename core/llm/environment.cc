// Providers configured by environment variables, the way the seeds' apps and
// most LLM tools read them.
#include "storyloom/llm.h"

namespace storyloom {
namespace {

std::string read(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

std::vector<LlmProviderConfig> llm_providers_from_environment(
    const std::function<const char*(const char*)>& getenv) {
  std::vector<LlmProviderConfig> out;
  auto add = [&](const char* name, LlmProviderKind kind, std::string key, std::string base_url,
                 std::string model, const char* default_model) {
    if (key.empty() && base_url.empty()) return;
    LlmProviderConfig p;
    p.name = name;
    p.kind = kind;
    p.api_key = std::move(key);
    p.base_url = std::move(base_url);
    p.model = model.empty() ? default_model : std::move(model);
    out.push_back(std::move(p));
  };
  add("openai", LlmProviderKind::openai, read(getenv, "OPENAI_API_KEY"),
      read(getenv, "OPENAI_BASE_URL"), read(getenv, "OPENAI_MODEL"), "gpt-4o-mini");
  std::string openrouter_key = read(getenv, "OPENROUTER_API_KEY");
  if (!openrouter_key.empty()) {
    add("openrouter", LlmProviderKind::openai, openrouter_key, "https://openrouter.ai/api/v1",
        read(getenv, "OPENROUTER_MODEL"), "openai/gpt-4o-mini");
  }
  add("anthropic", LlmProviderKind::anthropic, read(getenv, "ANTHROPIC_API_KEY"),
      read(getenv, "ANTHROPIC_BASE_URL"), read(getenv, "ANTHROPIC_MODEL"),
      "claude-3-5-haiku-latest");
  std::string gemini_key = read(getenv, "GEMINI_API_KEY");
  if (gemini_key.empty()) gemini_key = read(getenv, "GOOGLE_API_KEY");
  add("gemini", LlmProviderKind::gemini, gemini_key, read(getenv, "GEMINI_BASE_URL"),
      read(getenv, "GEMINI_MODEL"), "gemini-2.0-flash");
  LlmProviderConfig offline;
  offline.name = "offline";
  offline.kind = LlmProviderKind::offline;
  offline.model = "offline-placeholder";
  out.push_back(std::move(offline));
  return out;
}

}  // namespace storyloom
