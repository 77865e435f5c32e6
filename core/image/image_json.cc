// The image step's request and result as JSON (the C ABI's and the store's
// form), and the checks a request must pass before anything is sent.
#include <algorithm>
#include <charconv>

#include "engine/validate.h"
#include "storyloom/image.h"
#include "storyloom/llm.h"

namespace storyloom {
namespace {

constexpr size_t kMaxPromptBytes = 32000;
constexpr size_t kMaxModelBytes = 256;
constexpr int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorCode::invalid_argument, what); }

const boost::json::object& object_of(const Json& json, std::string_view what) {
  if (!json.is_object()) {
    bad(std::string(what) + " must be a JSON object, got " + boost::json::serialize(json));
  }
  return json.as_object();
}

std::string text(const boost::json::object& o, std::string_view key, std::string_view what) {
  const Json* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) {
    bad(std::string(what) + " field '" + std::string(key) + "' must be a string, got " +
        boost::json::serialize(*v));
  }
  return std::string(v->get_string());
}

int64_t integer(const boost::json::object& o, std::string_view key, std::string_view what) {
  const Json* v = o.if_contains(key);
  if (!v || v->is_null()) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->get_uint64());
  }
  bad(std::string(what) + " field '" + std::string(key) + "' must be a whole number, got " +
      boost::json::serialize(*v));
}

std::optional<std::chrono::milliseconds> timeout(const boost::json::object& o,
                                                 std::string_view key) {
  const Json* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return std::chrono::milliseconds(integer(o, key, "image request"));
}

// A size as an error quotes it: short printable text as it is, else its length.
std::string quoted_size(std::string_view size) {
  bool printable = size.size() <= 32 && std::all_of(size.begin(), size.end(), [](char c) {
                     return c >= 0x20 && c < 0x7f;
                   });
  return printable ? "'" + std::string(size) + "'" : std::to_string(size.size()) + " bytes long";
}

}  // namespace

RetryPolicy default_image_retry_policy() { return default_llm_retry_policy(); }

std::pair<int, int> parse_image_size(std::string_view size, std::string_view what) {
  auto fail = [&]() -> std::pair<int, int> {
    bad(std::string(what) + " is " + quoted_size(size) + "; use WIDTHxHEIGHT, each 64 to 4096 (e.g. 1024x1024)");
  };
  size_t x = size.find('x');
  if (x == std::string_view::npos) return fail();
  int w = 0, h = 0;
  auto [end_w, ec_w] = std::from_chars(size.data(), size.data() + x, w);
  auto [end_h, ec_h] = std::from_chars(size.data() + x + 1, size.data() + size.size(), h);
  if (ec_w != std::errc() || end_w != size.data() + x || ec_h != std::errc() ||
      end_h != size.data() + size.size() || w < 64 || w > 4096 || h < 64 || h > 4096) {
    return fail();
  }
  return {w, h};
}

void validate(const ImageRequest& r) {
  if (r.prompt.empty()) bad("image request has no prompt");
  if (r.prompt.size() > kMaxPromptBytes) {
    bad("image request prompt is " + std::to_string(r.prompt.size()) + " bytes; the limit is " +
        std::to_string(kMaxPromptBytes));
  }
  detail::check_utf8("image request prompt", r.prompt);
  if (!r.provider.empty()) detail::check_name("image request provider", r.provider);
  if (!r.artifact.empty()) detail::check_name("image request artifact", r.artifact);
  if (r.model.size() > kMaxModelBytes) {
    bad("image request model is " + std::to_string(r.model.size()) + " bytes; the limit is 256");
  }
  detail::check_no_control("image request model", r.model);
  detail::check_utf8("image request model", r.model);
  if (!r.size.empty()) parse_image_size(r.size, "image request size");
  if (!r.extra.is_null()) {
    const auto& extra = object_of(r.extra, "image request extra");
    for (const char* own : {"model", "prompt", "size", "n", "response_format"}) {
      if (extra.contains(own)) {
        bad(std::string("image request extra sets '") + own +
            "', which the request sets itself; use the request's own field");
      }
    }
  }
  for (auto [name, value] : {std::pair{"idle_timeout_ms", r.idle_timeout},
                             std::pair{"total_timeout_ms", r.total_timeout}}) {
    if (value && (value->count() < 1 || value->count() > kMaxTimeoutMs)) {
      bad(std::string("image request ") + name + " is " + std::to_string(value->count()) +
          "; use 1 to " + std::to_string(kMaxTimeoutMs));
    }
  }
}

Json to_json(const ImageRequest& r) {
  boost::json::object o{{"prompt", r.prompt}};
  if (!r.provider.empty()) o["provider"] = r.provider;
  if (!r.model.empty()) o["model"] = r.model;
  if (!r.size.empty()) o["size"] = r.size;
  if (!r.artifact.empty()) o["artifact"] = r.artifact;
  if (!r.extra.is_null()) o["extra"] = r.extra;
  if (r.idle_timeout) o["idle_timeout_ms"] = r.idle_timeout->count();
  if (r.total_timeout) o["total_timeout_ms"] = r.total_timeout->count();
  return o;
}

ImageRequest image_request_from_json(const Json& json) {
  const auto& o = object_of(json, "image request");
  for (const auto& [key, value] : o) {
    static constexpr std::string_view kKnown[] = {"provider", "model",           "prompt",
                                                  "size",     "artifact",        "extra",
                                                  "idle_timeout_ms", "total_timeout_ms"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      bad("image request has an unknown field '" + std::string(key) +
          "' (known: provider, model, prompt, size, artifact, extra, idle_timeout_ms, "
          "total_timeout_ms)");
    }
  }
  if (!o.contains("prompt")) bad("image request has no prompt");
  ImageRequest r;
  r.prompt = text(o, "prompt", "image request");
  r.provider = text(o, "provider", "image request");
  r.model = text(o, "model", "image request");
  r.size = text(o, "size", "image request");
  r.artifact = text(o, "artifact", "image request");
  if (const Json* extra = o.if_contains("extra")) r.extra = *extra;
  r.idle_timeout = timeout(o, "idle_timeout_ms");
  r.total_timeout = timeout(o, "total_timeout_ms");
  return r;
}

Json to_json(const ImageResult& r) {
  return boost::json::object{{"artifact", r.artifact},     {"version", r.version},
                             {"content_type", r.content_type}, {"bytes", r.bytes},
                             {"sha256", r.sha256},         {"width", r.width},
                             {"height", r.height},         {"provider", r.provider},
                             {"model", r.model},           {"revised_prompt", r.revised_prompt}};
}

ImageResult image_result_from_json(const Json& json) {
  const auto& o = object_of(json, "image result");
  const char* what = "image result";
  ImageResult r;
  r.artifact = text(o, "artifact", what);
  if (r.artifact.empty()) bad("image result has no artifact");
  r.version = integer(o, "version", what);
  r.content_type = text(o, "content_type", what);
  r.bytes = integer(o, "bytes", what);
  r.sha256 = text(o, "sha256", what);
  r.width = static_cast<int>(integer(o, "width", what));
  r.height = static_cast<int>(integer(o, "height", what));
  r.provider = text(o, "provider", what);
  r.model = text(o, "model", what);
  r.revised_prompt = text(o, "revised_prompt", what);
  return r;
}

}  // namespace storyloom
