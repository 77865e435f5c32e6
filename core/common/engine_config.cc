#include <cmath>
#include <limits>
#include <sstream>

#include "storyloom/config.h"

namespace storyloom {
namespace {

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::invalid_argument, where + " " + what);
}

const boost::json::object& object_of(const Json& json, const std::string& where) {
  if (!json.is_object()) bad(where, "must be a JSON object, got " + boost::json::serialize(json));
  return json.as_object();
}

void only_keys(const boost::json::object& o, std::initializer_list<const char*> known,
               const std::string& where) {
  for (const auto& [key, value] : o) {
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (found) continue;
    std::string list;
    for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    bad(where, "has an unknown key '" + std::string(key) + "' (known: " + list + ")");
  }
}

std::string text_at(const boost::json::object& o, const char* key, const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) bad(where + "." + key, "must be a string");
  return std::string(v->as_string());
}

double number_at(const boost::json::object& o, const char* key, double fallback,
                 const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_number())
    bad(where + "." + key, "must be a number, got " + boost::json::serialize(*v));
  double d = v->to_number<double>();
  if (!std::isfinite(d)) bad(where + "." + key, "must be finite");
  return d;
}

int64_t integer_at(const boost::json::object& o, const char* key, int64_t fallback,
                   const std::string& where) {
  double d = number_at(o, key, static_cast<double>(fallback), where);
  if (std::floor(d) != d || std::fabs(d) > 9e15) {
    std::ostringstream shown;
    shown << d;
    bad(where + "." + key, "must be a whole number, got " + shown.str());
  }
  return static_cast<int64_t>(d);
}

LlmProviderKind kind_of(const std::string& text, const std::string& where) {
  if (text == "openai" || text.empty()) return LlmProviderKind::openai;
  if (text == "anthropic") return LlmProviderKind::anthropic;
  if (text == "offline") return LlmProviderKind::offline;
  if (text == "gemini") return LlmProviderKind::gemini;
  bad(where, "must be openai, anthropic, gemini or offline, got '" + text + "'");
}

LlmProviderConfig provider_from_json(const Json& json, const std::string& where) {
  const auto& o = object_of(json, where);
  only_keys(o,
            {"name", "kind", "base_url", "api_key", "model", "resource", "connect_timeout_ms",
             "idle_timeout_ms", "offline_word_delay_ms"},
            where);
  LlmProviderConfig p;
  p.name = text_at(o, "name", where);
  if (p.name.empty()) bad(where + ".name", "is required");
  p.kind = kind_of(text_at(o, "kind", where), where + ".kind");
  p.base_url = text_at(o, "base_url", where);
  p.api_key = text_at(o, "api_key", where);
  p.model = text_at(o, "model", where);
  p.resource = text_at(o, "resource", where);
  using std::chrono::milliseconds;
  p.connect_timeout =
      milliseconds(integer_at(o, "connect_timeout_ms", p.connect_timeout.count(), where));
  p.idle_timeout = milliseconds(integer_at(o, "idle_timeout_ms", p.idle_timeout.count(), where));
  p.offline_word_delay =
      milliseconds(integer_at(o, "offline_word_delay_ms", p.offline_word_delay.count(), where));
  return p;
}

void apply_llm(LlmOptions& llm, const Json& json, const std::string& where) {
  const auto& o = object_of(json, where);
  only_keys(o, {"default_provider", "use_environment", "providers"}, where);
  if (o.contains("default_provider")) llm.default_provider = text_at(o, "default_provider", where);
  if (const auto* env = o.if_contains("use_environment"); env && !env->is_null()) {
    if (!env->is_bool()) bad(where + ".use_environment", "must be true or false");
    llm.use_environment = env->as_bool();
  }
  if (const auto* list = o.if_contains("providers"); list && !list->is_null()) {
    if (!list->is_array()) bad(where + ".providers", "must be an array");
    size_t i = 0;
    for (const auto& p : list->as_array()) {
      llm.providers.push_back(
          provider_from_json(p, where + ".providers[" + std::to_string(i++) + "]"));
    }
  }
}

ImageProviderConfig image_provider_from_json(const Json& json, const std::string& where) {
  const auto& o = object_of(json, where);
  only_keys(o,
            {"name", "kind", "base_url", "api_key", "model", "size", "resource",
             "connect_timeout_ms", "idle_timeout_ms"},
            where);
  ImageProviderConfig p;
  p.name = text_at(o, "name", where);
  if (p.name.empty()) bad(where + ".name", "is required");
  std::string kind = text_at(o, "kind", where);
  if (kind == "offline") {
    p.kind = ImageProviderKind::offline;
    p.size = "512x384";
  } else if (kind != "openai" && !kind.empty()) {
    bad(where + ".kind", "must be \"openai\" or \"offline\", got \"" + kind + "\"");
  }
  p.base_url = text_at(o, "base_url", where);
  p.api_key = text_at(o, "api_key", where);
  p.model = text_at(o, "model", where);
  if (std::string size = text_at(o, "size", where); !size.empty()) p.size = size;
  p.resource = text_at(o, "resource", where);
  using std::chrono::milliseconds;
  p.connect_timeout =
      milliseconds(integer_at(o, "connect_timeout_ms", p.connect_timeout.count(), where));
  p.idle_timeout = milliseconds(integer_at(o, "idle_timeout_ms", p.idle_timeout.count(), where));
  return p;
}

void apply_images(ImageOptions& images, const Json& json, const std::string& where) {
  const auto& o = object_of(json, where);
  only_keys(o, {"default_provider", "use_environment", "providers"}, where);
  if (o.contains("default_provider")) images.default_provider = text_at(o, "default_provider", where);
  if (const auto* env = o.if_contains("use_environment"); env && !env->is_null()) {
    if (!env->is_bool()) bad(where + ".use_environment", "must be true or false");
    images.use_environment = env->as_bool();
  }
  if (const auto* list = o.if_contains("providers"); list && !list->is_null()) {
    if (!list->is_array()) bad(where + ".providers", "must be an array");
    size_t i = 0;
    for (const auto& p : list->as_array()) {
      images.providers.push_back(
          image_provider_from_json(p, where + ".providers[" + std::to_string(i++) + "]"));
    }
  }
}

}  // namespace

ResourceLimits resource_limits_from_json(const Json& json, const std::string& where) {
  const auto& o = object_of(json, where);
  only_keys(o, {"requests", "period_ms", "burst", "max_in_flight", "tokens_per_minute"}, where);
  ResourceLimits limits;
  limits.requests = number_at(o, "requests", 0, where);
  limits.period =
      std::chrono::milliseconds(integer_at(o, "period_ms", limits.period.count(), where));
  limits.burst = number_at(o, "burst", 0, where);
  int64_t in_flight = integer_at(o, "max_in_flight", 0, where);
  if (in_flight > std::numeric_limits<int>::max() || in_flight < std::numeric_limits<int>::min()) {
    bad(where + ".max_in_flight", "is out of range");
  }
  limits.max_in_flight = static_cast<int>(in_flight);
  limits.tokens_per_minute = number_at(o, "tokens_per_minute", 0, where);
  return limits;
}

void apply_engine_config(EngineOptions& options, const Json& config) {
  const auto& o = object_of(config, "config");
  only_keys(o, {"durability", "llm", "images", "resources", "max_json_depth", "max_artifact_bytes"},
            "config");
  if (const auto* durability = o.if_contains("durability"); durability && !durability->is_null()) {
    const auto* text = durability->if_string();
    if (text && *text == "full") {
      options.durability = Durability::full;
    } else if (text && *text == "normal") {
      options.durability = Durability::normal;
    } else {
      bad("config.durability", "must be \"full\" or \"normal\", got " + boost::json::serialize(*durability));
    }
  }
  if (const auto* depth = o.if_contains("max_json_depth"); depth && !depth->is_null()) {
    if (!depth->is_int64() || depth->as_int64() < 1 || depth->as_int64() > kMaxJsonDepthLimit) {
      throw Error(ErrorCode::invalid_argument,
                  "config.max_json_depth must be an integer from 1 to " +
                      std::to_string(kMaxJsonDepthLimit) + ", got " + boost::json::serialize(*depth));
    }
    options.max_json_depth = static_cast<int>(depth->as_int64());
  }
  if (const auto* bytes = o.if_contains("max_artifact_bytes"); bytes && !bytes->is_null()) {
    if (!bytes->is_int64() || bytes->as_int64() < 1024) {
      throw Error(ErrorCode::invalid_argument,
                  "config.max_artifact_bytes must be an integer of at least 1024, got " +
                      boost::json::serialize(*bytes));
    }
    options.max_artifact_bytes = static_cast<size_t>(bytes->as_int64());
  }
  if (const auto* llm = o.if_contains("llm"); llm && !llm->is_null()) {
    apply_llm(options.llm, *llm, "config.llm");
  }
  if (const auto* images = o.if_contains("images"); images && !images->is_null()) {
    apply_images(options.images, *images, "config.images");
  }
  if (const auto* resources = o.if_contains("resources"); resources && !resources->is_null()) {
    for (const auto& [name, limits] : object_of(*resources, "config.resources")) {
      std::string key(name);
      ResourceLimits parsed = resource_limits_from_json(limits, "config.resources." + key);
      validate(key, parsed);
      options.resources[key] = parsed;
    }
  }
}

Json to_json(const ResourceStatus& s) {
  auto finite_or_null = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  return boost::json::object{{"name", s.name},
                             {"available_requests", finite_or_null(s.available_requests)},
                             {"available_tokens", finite_or_null(s.available_tokens)},
                             {"in_flight", s.in_flight},
                             {"waiting", s.waiting},
                             {"paused_until_ms", s.paused_until_ms}};
}

}  // namespace storyloom
