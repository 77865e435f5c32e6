#include "llm/llm_client.h"

#include <algorithm>
#include <atomic>

#include "common/named_providers.h"
#include "llm/json_schema.h"
#include "llm/llm_errors.h"
#include "llm/offline_generator.h"
#include "llm/protocol.h"

namespace storyloom::detail {
namespace {

// A body kept for its error message: enough for any provider's, not a flood.
constexpr size_t kMaxErrorBody = 64 * 1024;

// Tokens a request may use before the provider says: about four characters a
// token for the prompt, plus everything it may write.
double estimate_tokens(const LlmRequest& request) {
  size_t chars = 0;
  for (const auto& m : request.messages) chars += m.content.size();
  return static_cast<double>(chars) / 4.0 + request.max_tokens;
}

const Protocol& protocol_of(LlmProviderKind kind) {
  switch (kind) {
    case LlmProviderKind::anthropic:
      return anthropic_protocol();
    case LlmProviderKind::gemini:
      return gemini_protocol();
    default:
      return openai_protocol();
  }
}

std::string resource_of(const LlmProviderConfig& p) {
  return p.resource.empty() ? "llm:" + p.name : p.resource;
}

}  // namespace

// One call's state, shared by the limiter's, the I/O and the caller's threads.
class LlmCallState final : public LlmCall, public std::enable_shared_from_this<LlmCallState> {
 public:
  LlmCallState(LlmClient& client, const LlmProviderConfig& provider, LlmRequest request,
               std::string model, std::string idempotency_key, LlmCallbacks callbacks)
      : client_(client),
        provider_(provider),
        request_(std::move(request)),
        model_(std::move(model)),
        idempotency_key_(std::move(idempotency_key)),
        callbacks_(std::move(callbacks)),
        resource_(resource_of(provider)) {}

  void begin() {
    auto self = shared_from_this();
    // on_waiting only when the resource holds the request back (its limits,
    // its pause, the shared store's refusal), not while a shared resource's
    // store is asked; it runs before the grant, which the limiter orders.
    auto held = [self] {
      std::lock_guard lock(self->mutex_);
      if (!self->granted_ && !self->ended_ && self->callbacks_.on_waiting) {
        self->callbacks_.on_waiting(self->resource_);
      }
    };
    auto wait = client_.limiter_.acquire(
        resource_, estimate_tokens(request_),
        [self](ResourcePermit permit, const Error* error) {
          self->granted_ = true;
          if (!error) return self->admitted(std::move(permit));
          std::optional<Error> why = self->stop_reason();
          self->end(std::nullopt, why ? *why : *error);
        },
        held);
    std::lock_guard lock(mutex_);
    wait_ = wait;
  }

  void cancel() override {
    stop(Error(ErrorCode::cancelled, call_label(provider_, model_) + ": the request was cancelled",
               ErrorClass::fatal));
  }

  // Ends the call early with `why`, wherever it is.
  void stop(const Error& why) {
    std::shared_ptr<ResourceWait> wait;
    std::shared_ptr<HttpTransfer> transfer;
    {
      std::lock_guard lock(mutex_);
      if (ended_ || stop_reason_) return;
      stop_reason_ = why;
      wait = wait_;
      transfer = transfer_;
    }
    if (wait) wait->cancel();
    if (transfer) {
      transfer->cancel();  // on_done(cancelled) ends the call with stop_reason_
    } else {
      end(std::nullopt, why);  // waiting, offline, or between the two
    }
  }

 private:
  std::optional<Error> stop_reason() {
    std::lock_guard lock(mutex_);
    return stop_reason_;
  }

  void admitted(ResourcePermit permit) {
    {
      std::unique_lock lock(mutex_);
      if (ended_) return;
      if (stop_reason_) {
        Error why = *stop_reason_;
        lock.unlock();
        return end(std::nullopt, why);
      }
      permit_ = std::move(permit);
    }
    if (callbacks_.on_start) callbacks_.on_start(provider_.name, model_);
    if (provider_.kind == LlmProviderKind::offline) return run_offline();
    HttpRequest http =
        protocol_of(provider_.kind).build(provider_, request_, model_, idempotency_key_);
    auto self = shared_from_this();
    HttpCallbacks cb;
    cb.on_head = [self](const HttpResponseHead& head) { self->on_head(head); };
    cb.on_body = [self](std::string_view bytes) { self->on_body(bytes); };
    cb.on_done = [self](const HttpOutcome& outcome) { self->on_transfer_done(outcome); };
    auto transfer = client_.http().start(std::move(http), std::move(cb));
    bool stopped;
    {
      std::lock_guard lock(mutex_);
      transfer_ = transfer;
      stopped = stop_reason_.has_value() && !ended_;
    }
    if (stopped) transfer->cancel();  // stop() came before the transfer was known
  }

  void run_offline() {
    auto text = std::make_shared<OfflineText>(offline_text(request_));
    if (!request_.json_schema.is_null()) {
      // Structured output offline: the schema filled from the prompt's words.
      std::string seed;
      for (const auto& m : request_.messages) seed += m.content + "\n";
      std::string json = boost::json::serialize(fill_schema(request_.json_schema, seed));
      text->pieces.clear();
      text->truncated = false;
      for (size_t at = 0; at < json.size();) {
        size_t end = std::min(json.size(), at + 16);
        while (end < json.size() && (static_cast<unsigned char>(json[end]) & 0xC0) == 0x80) ++end;
        text->pieces.push_back(json.substr(at, end - at));
        at = end;
      }
    }
    progress_.usage.input_tokens = text->input_tokens;
    progress_.finish_reason = text->truncated ? "length" : "stop";
    progress_.model = model_;
    emit_offline(std::move(text), 0);
  }

  // Streams the offline text a piece at a time on the I/O thread.
  void emit_offline(std::shared_ptr<OfflineText> text, size_t next) {
    auto self = shared_from_this();
    auto delay = next == 0 ? std::chrono::milliseconds(0) : provider_.offline_word_delay;
    client_.http().run_after(delay, [self, text, next] {
      {
        std::lock_guard lock(self->mutex_);
        if (self->ended_ || self->stop_reason_) return;
      }
      size_t i = next;
      // Without a delay the whole text goes out at once, piece by piece.
      do {
        const std::string& piece = text->pieces[i];
        self->progress_.text += piece;
        self->progress_.usage.output_tokens += 1;
        if (self->request_.stream && self->callbacks_.on_text) self->callbacks_.on_text(piece);
        ++i;
      } while (i < text->pieces.size() && self->provider_.offline_word_delay.count() == 0);
      if (i < text->pieces.size()) return self->emit_offline(text, i);
      self->progress_.done = true;
      LlmResult answer = self->result();
      if (!self->request_.json_schema.is_null()) {
        if (auto why = self->parse_structured(answer)) {
          return self->end(std::nullopt, Error(ErrorCode::internal, "offline: " + *why));
        }
      }
      self->end(std::move(answer), std::nullopt);
    });
  }

  void on_head(const HttpResponseHead& head) {
    status_ = head.status;
    const Protocol& protocol = protocol_of(provider_.kind);
    int64_t now = client_.clock_->now_ms();
    ProviderLimits limits = protocol.limits(head, now);
    if (limits.requests_left || limits.tokens_left) {
      client_.limiter_.observe_provider_limits(resource_, limits.requests_left,
                                               limits.requests_reset_ms, limits.tokens_left,
                                               limits.tokens_reset_ms);
    }
    if (status_ < 200 || status_ > 299) {
      retry_after_ = retry_after_ms(head, now);
    } else if (request_.stream) {
      decoder_ = protocol.decoder();
    }
  }

  void on_body(std::string_view bytes) {
    if (status_ < 200 || status_ > 299 || !request_.stream) {
      size_t room = kMaxErrorBody - std::min(kMaxErrorBody, body_.size());
      body_.append(bytes.substr(0, status_ >= 200 && status_ <= 299 ? bytes.size() : room));
      return;
    }
    try {
      parser_.feed(bytes, [this](SseEvent&& event) { decode(event); });
    } catch (const Error& e) {
      fail_mid_stream(e);
    }
  }

  void decode(const SseEvent& event) {
    if (decode_error_) return;
    std::string delta = decoder_->on_event(event, progress_);
    if (!delta.empty() && callbacks_.on_text) callbacks_.on_text(delta);
  }

  // The stream said something wrong: keep the error, stop the transfer.
  void fail_mid_stream(const Error& e) {
    std::shared_ptr<HttpTransfer> transfer;
    {
      std::lock_guard lock(mutex_);
      if (decode_error_) return;
      decode_error_ = Error(
          e.code(), call_label(provider_, model_) + ": " + redact(e.what(), provider_.api_key),
          e.error_class(), e.retry_after_ms());
      transfer = transfer_;
    }
    if (transfer) transfer->cancel();
  }

  void on_transfer_done(const HttpOutcome& outcome) {
    std::optional<Error> stopped = stop_reason();
    if (decode_error_) return end(std::nullopt, *decode_error_);
    if (outcome.kind == HttpOutcome::Kind::cancelled) {
      return end(std::nullopt, stopped ? *stopped
                                       : Error(ErrorCode::closed, call_label(provider_, model_) +
                                                                      ": the engine is closing"));
    }
    if (outcome.kind != HttpOutcome::Kind::completed) {
      return end(std::nullopt, transfer_error(provider_, model_, outcome));
    }
    const Protocol& protocol = protocol_of(provider_.kind);
    if (status_ < 200 || status_ > 299) {
      Error error =
          status_error(provider_, model_, status_, protocol.error_of(body_), retry_after_);
      // The wait from the headers, or from the body (Gemini's RetryInfo).
      if (error.error_class() == ErrorClass::rate_limited && error.retry_after_ms() > 0) {
        client_.limiter_.pause_until(resource_, client_.clock_->now_ms() + error.retry_after_ms());
      }
      return end(std::nullopt, error);
    }
    bool cut = false;
    try {
      if (request_.stream) {
        cut = parser_.finish([this](SseEvent&& event) { decode(event); });
      } else {
        progress_ = protocol.parse_body(body_);
        if (callbacks_.on_text && !progress_.text.empty()) callbacks_.on_text(progress_.text);
      }
    } catch (const Error& e) {
      return end(std::nullopt,
                 Error(e.code(),
                       call_label(provider_, model_) + ": " + redact(e.what(), provider_.api_key),
                       e.error_class()));
    }
    if (cut && !progress_.done) {
      // WHATWG: an event with no blank line after it is discarded; for an
      // answer that means its end is missing.
      return end(std::nullopt,
                 Error(ErrorCode::provider,
                       call_label(provider_, model_) +
                           ": the stream was cut: it ended inside an event (no blank line after "
                           "its last lines), so the end of the answer is missing",
                       ErrorClass::retryable));
    }
    if (!progress_.done && progress_.finish_reason.empty()) {
      return end(std::nullopt,
                 Error(ErrorCode::provider,
                       call_label(provider_, model_) +
                           ": the stream ended before the provider said the answer was complete",
                       ErrorClass::retryable));
    }
    LlmResult answer = result();
    if (!request_.json_schema.is_null() && !answer.truncated) {
      if (auto why = parse_structured(answer)) {
        return end(std::nullopt,
                   Error(ErrorCode::provider, call_label(provider_, model_) + ": " + *why,
                         ErrorClass::retryable));
      }
    }
    end(std::move(answer), std::nullopt);
  }

  // Parses a structured answer into result.json; the reason when it is not
  // JSON matching the request's schema.
  std::optional<std::string> parse_structured(LlmResult& r) const {
    boost::system::error_code ec;
    Json value = boost::json::parse(r.text, ec);
    if (ec) {
      std::string start = r.text.substr(0, 80);
      return "the answer is not the JSON the request's json_schema asks for (" + ec.message() +
             "): " + start;
    }
    if (std::string why = schema_mismatch(request_.json_schema, value); !why.empty()) {
      return "the answer does not match the request's json_schema: " + why;
    }
    r.json = std::move(value);
    // Anthropic's forced tool ends with tool_use; for the caller it is the answer.
    if (r.finish_reason == "tool_calls" && provider_.kind == LlmProviderKind::anthropic) {
      r.finish_reason = "stop";
    }
    return std::nullopt;
  }

  LlmResult result() const {
    LlmResult r;
    r.text = progress_.text;
    r.stop_reason = progress_.finish_reason;
    r.finish_reason = normalized_finish_reason(progress_.finish_reason);
    r.truncated = r.finish_reason == "length";
    r.usage = progress_.usage;
    if (r.usage.total_tokens == 0)
      r.usage.total_tokens = r.usage.input_tokens + r.usage.output_tokens;
    r.provider = provider_.name;
    r.model = progress_.model.empty() ? model_ : progress_.model;
    return r;
  }

  void end(std::optional<LlmResult> result, std::optional<Error> error) {
    ResourcePermit permit;
    {
      std::lock_guard lock(mutex_);
      if (ended_) return;
      ended_ = true;
      permit = std::move(permit_);
      transfer_.reset();
      wait_.reset();
    }
    if (permit) {
      int64_t used = progress_.usage.input_tokens + progress_.usage.output_tokens;
      if (used > 0) permit.set_actual_tokens(static_cast<double>(used));
      permit.release();
    }
    if (error) {
      // Every configured key, in every spelling, whoever's error it is.
      error = Error(error->code(), redact(error->what(), client_.secrets_), error->error_class(),
                    error->retry_after_ms());
    }
    callbacks_.on_done(std::move(result), std::move(error));
  }

  LlmClient& client_;
  const LlmProviderConfig& provider_;
  const LlmRequest request_;
  const std::string model_;
  const std::string idempotency_key_;
  const LlmCallbacks callbacks_;
  const std::string resource_;

  std::mutex mutex_;
  bool ended_ = false;
  std::atomic<bool> granted_{false};
  std::optional<Error> stop_reason_;
  std::shared_ptr<ResourceWait> wait_;
  std::shared_ptr<HttpTransfer> transfer_;
  ResourcePermit permit_;

  // I/O thread only (one transfer's callbacks run in order).
  long status_ = 0;
  std::optional<int64_t> retry_after_;
  std::string body_;
  SseParser parser_;
  std::unique_ptr<StreamDecoder> decoder_;
  LlmProgress progress_;
  std::optional<Error> decode_error_;
};

LlmClient::LlmClient(const LlmOptions& options, ResourceLimiter& limiter,
                     std::shared_ptr<Clock> clock,
                     const std::function<const char*(const char*)>& getenv)
    : limiter_(limiter), clock_(std::move(clock)) {
  if (options.use_environment) providers_ = llm_providers_from_environment(getenv);
  put_providers_by_name(providers_, options.providers, "an llm provider");
  if (!has_provider(providers_, "offline")) {
    LlmProviderConfig offline;
    offline.name = "offline";
    offline.kind = LlmProviderKind::offline;
    offline.model = "offline-placeholder";
    providers_.push_back(offline);
  }
  for (auto& p : providers_) {
    if (p.kind == LlmProviderKind::offline && p.model.empty()) p.model = "offline-placeholder";
  }
  for (const auto& p : providers_) {
    bool public_endpoint = p.base_url.empty() && p.kind != LlmProviderKind::offline;
    if (public_endpoint && p.api_key.empty()) {
      throw Error(ErrorCode::invalid_argument, "llm provider '" + p.name +
                                                   "' has no api_key and no base_url (a public "
                                                   "endpoint needs a key)");
    }
    if (!p.base_url.empty() && p.base_url.rfind("http://", 0) != 0 &&
        p.base_url.rfind("https://", 0) != 0) {
      throw Error(ErrorCode::invalid_argument, "llm provider '" + p.name + "': base_url '" +
                                                   p.base_url +
                                                   "' must start with http:// or https://");
    }
    auto at_least = [&](const char* field, std::chrono::milliseconds value, int64_t minimum) {
      if (value.count() < minimum) {
        throw Error(ErrorCode::invalid_argument,
                    "llm provider '" + p.name + "': " + field + " must be at least " +
                        std::to_string(minimum) + " ms, got " + std::to_string(value.count()));
      }
    };
    at_least("connect_timeout", p.connect_timeout, 1);
    at_least("idle_timeout", p.idle_timeout, 0);
    at_least("offline_word_delay", p.offline_word_delay, 0);
    std::string resource = resource_of(p);
    auto names = limiter_.names();
    if (std::find(names.begin(), names.end(), resource) == names.end()) {
      limiter_.configure(resource, ResourceLimits{});
    }
  }
  default_provider_ = options.default_provider;
  if (default_provider_.empty()) {
    const char* chosen = getenv("STORYLOOM_LLM_PROVIDER");
    if (chosen && *chosen) default_provider_ = chosen;
  }
  if (default_provider_.empty()) {
    for (const char* name : {"openai", "openrouter", "anthropic", "gemini"}) {
      auto it = std::find_if(providers_.begin(), providers_.end(),
                             [&](const LlmProviderConfig& p) { return p.name == name; });
      if (it != providers_.end() && !it->api_key.empty()) {
        default_provider_ = name;
        break;
      }
    }
  }
  if (default_provider_.empty()) default_provider_ = "offline";
  for (const auto& p : providers_) {
    if (!p.api_key.empty()) secrets_.push_back(p.api_key);
  }
  provider(default_provider_);  // throws when it names no provider
}

LlmClient::~LlmClient() { close(); }

void LlmClient::close() {
  {
    std::lock_guard lock(http_mutex_);
    if (closed_) return;
    closed_ = true;
  }
  std::vector<std::shared_ptr<LlmCallState>> live;
  {
    std::lock_guard lock(calls_mutex_);
    for (auto& weak : live_calls_) {
      if (auto call = weak.lock()) live.push_back(std::move(call));
    }
    live_calls_.clear();
  }
  for (auto& call : live) call->stop(Error(ErrorCode::closed, "the engine is closing"));
  std::lock_guard lock(http_mutex_);
  if (http_) http_->close();
}

HttpClient& LlmClient::http() {
  std::lock_guard lock(http_mutex_);
  if (!http_) http_ = std::make_unique<HttpClient>();
  if (closed_) {
    // Calls after close get a closed client, whose start() cancels at once.
    http_->close();
  }
  return *http_;
}

const LlmProviderConfig& LlmClient::provider(const std::string& name) const {
  const std::string& wanted = name.empty() ? default_provider_ : name;
  for (const auto& p : providers_) {
    if (p.name == wanted) return p;
  }
  std::string known;
  for (const auto& p : providers_) known += (known.empty() ? "" : ", ") + p.name;
  throw Error(ErrorCode::not_found,
              "llm provider '" + wanted + "' is not configured (configured: " + known + ")");
}

Json LlmClient::describe() const {
  boost::json::array list;
  for (const auto& p : providers_) {
    const char* kind = p.kind == LlmProviderKind::openai      ? "openai"
                       : p.kind == LlmProviderKind::anthropic ? "anthropic"
                       : p.kind == LlmProviderKind::gemini    ? "gemini"
                                                              : "offline";
    list.push_back(boost::json::object{{"name", p.name},
                                       {"kind", kind},
                                       {"base_url", p.base_url},
                                       {"model", p.model},
                                       {"resource", resource_of(p)},
                                       {"has_key", !p.api_key.empty()}});
  }
  return boost::json::object{{"default", default_provider_}, {"providers", std::move(list)}};
}

std::string LlmClient::model_for(const LlmRequest& request) const {
  if (!request.model.empty()) return request.model;
  return provider(request.provider).model;
}

std::shared_ptr<LlmCall> LlmClient::call(const LlmRequest& request, std::string idempotency_key,
                                         LlmCallbacks callbacks) {
  {
    std::lock_guard lock(http_mutex_);
    if (closed_) throw Error(ErrorCode::closed, "the engine is closing; no new llm calls");
  }
  const LlmProviderConfig& p = provider(request.provider);
  std::string model = model_for(request);
  if (model.empty()) {
    throw Error(ErrorCode::invalid_argument, "llm request to provider '" + p.name +
                                                 "' names no model and the provider has "
                                                 "no default model");
  }
  auto state = std::make_shared<LlmCallState>(*this, p, request, std::move(model),
                                              std::move(idempotency_key), std::move(callbacks));
  {
    std::lock_guard lock(calls_mutex_);
    std::erase_if(live_calls_, [](const std::weak_ptr<LlmCallState>& w) { return w.expired(); });
    live_calls_.push_back(state);
  }
  state->begin();
  return state;
}

}  // namespace storyloom::detail
