// The built-in image step: one picture from an OpenAI-compatible images
// endpoint (POST {base_url}/images/generations with response_format
// b64_json; OpenAI or any compatible server via its base URL), admitted
// through the provider's resource (storyloom/resource.h), retried and
// memoized like any step. The picture is stored as a binary artifact
// (Execution::binary_artifact) in the same commit as the step's result, which
// names its version. An `offline` provider draws a deterministic placeholder
// picture from the prompt, labelled on the picture as a placeholder — not an
// image model — so demos and tests need no key and no network.
//
// API keys are sent as a request header and nowhere else: they never appear in
// an event, a step result, an error message, a log line or the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/error.h"
#include "storyloom/json.h"
#include "storyloom/retry.h"

namespace storyloom {

enum class ImageProviderKind {
  openai,   // POST {base_url}/images/generations, Authorization: Bearer
  offline,  // no network: a placeholder drawn by ImageOptions::offline_drawer
};

struct ImageProviderConfig {
  std::string name;  // what requests call it: "openai", "offline", "local", ...
  ImageProviderKind kind = ImageProviderKind::openai;
  std::string base_url;  // "" → https://api.openai.com/v1 (openai kind)
  std::string api_key;   // required for the openai kind at its public endpoint
  std::string model;     // the model when a request names none
  std::string size = "1024x1024";  // the size when a request names none: "WxH"
  std::string resource;  // the resource its requests use; "" → "image:<name>"
  std::chrono::milliseconds connect_timeout{10000};
  // No byte from the server this long fails the attempt (retryable timeout).
  // Image models answer in one piece after a long silence, hence the default.
  std::chrono::milliseconds idle_timeout{180000};
};

// Draws the offline provider's picture: PNG bytes of width x height for the
// prompt. Must be deterministic (the same arguments, the same bytes).
using ImageDrawer = std::function<std::string(std::string_view prompt, int width, int height)>;

struct ImageOptions {
  // Added to those read from the environment; one with the same name replaces it.
  std::vector<ImageProviderConfig> providers;
  // The provider of requests that name none. "" → $STORYLOOM_IMAGE_PROVIDER,
  // else offline (a real images API costs money: choose it by name).
  std::string default_provider;
  bool use_environment = true;
  // The offline provider's drawer. The C ABI (and so Node and Python) sets
  // the book library's placeholder (storyloom_book: book::placeholder_png);
  // a C++ host sets it itself. Unset: offline requests fail (fatal) saying so.
  ImageDrawer offline_drawer;
};

// The providers the environment configures: openai when OPENAI_API_KEY or
// OPENAI_BASE_URL is set (model OPENAI_IMAGE_MODEL, default "dall-e-3"; size
// OPENAI_IMAGE_SIZE, default 1024x1024), and always offline (512x384).
// `getenv` is injectable for tests.
std::vector<ImageProviderConfig> image_providers_from_environment(
    const std::function<const char*(const char*)>& getenv);

struct ImageRequest {
  std::string provider;  // "" → the engine's default image provider
  std::string model;     // "" → the provider's model
  std::string prompt;    // 1 .. 32000 bytes of UTF-8
  std::string size;      // "" → the provider's size; else "WxH", each 64 .. 4096
  // The binary artifact the picture is stored as; "" → the step's name.
  std::string artifact;
  // Provider-specific fields merged into the request body as they are (for
  // example {"quality":"hd","style":"natural"}); null or an object. A key the
  // request sets itself (model, prompt, size, n, response_format) is refused.
  Json extra = nullptr;
  // This request's timeouts, replacing its provider's idle_timeout (1 ms .. 24 h).
  std::optional<std::chrono::milliseconds> idle_timeout = {};
  std::optional<std::chrono::milliseconds> total_timeout = {};
};

// What the image step stores and returns. The bytes are not in it: read them
// with Engine::artifact_bytes(run, artifact, version).
struct ImageResult {
  std::string artifact;      // the binary artifact's key
  int64_t version = 0;       // its version holding this picture
  std::string content_type;  // image/png, image/jpeg or image/webp (read from the bytes)
  int64_t bytes = 0;         // size of the picture
  std::string sha256;        // hex digest of the bytes
  int width = 0;             // from the picture itself (0 when its format does not say)
  int height = 0;
  std::string provider;
  std::string model;
  std::string revised_prompt;  // what the provider says it drew from ("" when it says nothing)
};

// The retry policy of an image step when neither the step nor its workflow
// sets one: default_llm_retry_policy() (3 attempts, 1 s then 2 s backoff,
// Retry-After honoured; fatal errors never retried).
RetryPolicy default_image_retry_policy();

// Requests and results cross the C ABI as JSON:
// request {"provider","model","prompt","size","artifact","extra":{..},
//          "idle_timeout_ms","total_timeout_ms"} (all but prompt optional);
// result {"artifact","version","content_type","bytes","sha256","width",
//         "height","provider","model","revised_prompt"}.
Json to_json(const ImageRequest& request);
Json to_json(const ImageResult& result);
// Throw Error(invalid_argument) naming the field that is missing or wrong.
ImageRequest image_request_from_json(const Json& json);
ImageResult image_result_from_json(const Json& json);
// Throws Error(invalid_argument) naming what is wrong: an empty or oversized
// prompt, a size not "WxH" within 64 .. 4096, a provider or artifact name that
// is not a valid name, a model over 256 bytes, extra not an object or setting
// a key the request sets, a timeout out of range.
void validate(const ImageRequest& request);
// "WxH" → {W, H}; throws invalid_argument naming `what` unless both are 64 .. 4096.
std::pair<int, int> parse_image_size(std::string_view size, std::string_view what);

// How one image step call ended, given to its callback exactly once.
struct ImageOutcome {
  std::optional<ImageResult> result;  // set on success (memoized or fresh)
  std::optional<Error> error;         // set on failure
  bool memoized = false;              // the result was stored by an earlier execution
  // The failure will be retried per the step's policy: unwind the workflow
  // and call any finish_*; the run is requeued.
  bool will_retry = false;
};

using ImageCallback = std::function<void(ImageOutcome outcome)>;

}  // namespace storyloom
