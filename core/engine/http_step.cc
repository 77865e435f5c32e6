// The built-in http step: memoized like a host step, sent through the
// engine's HttpClient (shared with the LLM client), admitted through a
// resource when asked, its attempts retried per policy. Secret header values
// never reach the store: the request is not stored, and they are redacted
// from the stored response and from every error.
#include <algorithm>
#include <cctype>

#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "llm/llm_client.h"
#include "llm/llm_errors.h"
#include "store/row_codec.h"

namespace storyloom::detail {
namespace {

// An error body quoted in a message: enough to say why, not the whole page.
constexpr size_t kQuotedBody = 300;

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Headers whose values are credentials whatever the request says.
bool is_credential_header(std::string_view lowercase_name) {
  static constexpr std::string_view kNames[] = {
      "authorization", "proxy-authorization", "cookie",       "set-cookie",
      "x-api-key",     "api-key",             "x-auth-token", "x-goog-api-key"};
  return std::find(std::begin(kNames), std::end(kNames), lowercase_name) != std::end(kNames);
}

// The secret values of a request, longest first; with "Bearer xyz" also "xyz".
std::vector<std::string> secret_values(const HttpStepRequest& request) {
  std::vector<std::string> out;
  for (const auto& h : request.headers) {
    if (h.value.empty() || !(h.secret || is_credential_header(lowercase(h.name)))) continue;
    out.push_back(h.value);
    size_t space = h.value.rfind(' ');
    if (space != std::string::npos && space + 1 < h.value.size()) {
      out.push_back(h.value.substr(space + 1));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::string without_secrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + 10)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  return text;
}

// "host:port" of the URL: what events and errors name (the path and query
// may carry tokens).
std::string host_of(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool is_json_type(std::string_view content_type) {
  std::string type = lowercase(content_type.substr(0, content_type.find(';')));
  return type == "application/json" || (type.size() > 5 && type.ends_with("+json"));
}

// The request as the HttpClient sends it.
HttpRequest wire_request(const HttpStepRequest& r, const std::string& idempotency_key) {
  HttpRequest out;
  out.method = r.method;
  out.url = r.url;
  bool has_type = false;
  for (const auto& h : r.headers) {
    out.headers.emplace_back(h.name, h.value);
    has_type = has_type || lowercase(h.name) == "content-type";
  }
  if (r.json) {
    out.body = boost::json::serialize(*r.json);
    if (!has_type) out.headers.emplace_back("Content-Type", "application/json");
  } else if (r.body) {
    out.body = *r.body;
  }
  if (!r.idempotency_header.empty()) {
    out.headers.emplace_back(r.idempotency_header, idempotency_key);
  }
  out.connect_timeout = r.connect_timeout;
  out.idle_timeout = r.idle_timeout;
  out.total_timeout = r.total_timeout;
  return out;
}

// Stops an http step's transfer; kept with the llm steps' calls so a cancel,
// a step timeout or the end of the execution stops both kinds alike.
class HttpStepCall final : public LlmCall {
 public:
  void cancel() override {
    std::shared_ptr<HttpTransfer> transfer;
    {
      std::lock_guard lock(mutex_);
      if (cancelled_) return;
      cancelled_ = true;
      transfer = transfer_;
    }
    if (transfer) transfer->cancel();
  }
  // Keeps the transfer to stop; false when cancel() came first (stop it then).
  bool attach(std::shared_ptr<HttpTransfer> transfer) {
    std::lock_guard lock(mutex_);
    transfer_ = std::move(transfer);
    return !cancelled_;
  }
  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::shared_ptr<HttpTransfer> transfer_;
};

// One attempt's response as it arrives (I/O thread only).
struct Response {
  HttpResponseHead head;
  std::string body;
  bool too_large = false;
};

}  // namespace

void ExecutionState::http(std::string_view name, HttpStepRequest request, HttpStepCallback done,
                          std::optional<RetryPolicy> retry) {
  validate(request);
  if (retry) validate(*retry);
  if (!done) throw Error(ErrorCode::invalid_argument, "http step '" + std::string(name) + "' needs a callback");
  int64_t seq = 0;
  int attempt = 1;
  std::optional<HttpStepOutcome> memoized;
  {
    std::lock_guard lock(mutex_);
    auto pos = next_position(name, "http");
    seq = pos.seq;
    if (pos.stored && pos.stored->status == "failed") {
      memoized.emplace();
      memoized->memoized = true;
      memoized->error = stored_step_error(*pos.stored);
    } else if (pos.stored && pos.stored->status == "completed") {
      memoized.emplace();
      memoized->memoized = true;
      memoized->result = http_result_from_json(store::decode_stored_json(
          pos.stored->result, run_id(), "the result of http step '" + pos.stored->name + "'"));
    } else {
      attempt = begin_attempt(pos, name, "http", retry);
    }
  }
  if (memoized) return done(std::move(*memoized));

  auto self = shared_from_this();
  auto call = std::make_shared<HttpStepCall>();
  auto secrets = std::make_shared<const std::vector<std::string>>(secret_values(request));
  const std::string label =
      "http step '" + std::string(name) + "': " + request.method + " " + host_of(request.url);

  // How the attempt ended: stored (the workflow sees it once committed) or failed.
  auto finish = [self, seq, done](std::optional<HttpStepResult> result,
                                  std::optional<Error> error) {
    {
      std::lock_guard lock(self->mutex_);
      self->llm_calls_.erase(seq);
    }
    HttpStepOutcome out;
    if (result) {
      try {
        self->complete_step(seq, to_json(*result));
      } catch (const Error& e) {
        out.error = e;  // too large, or the execution ended (a timeout) meanwhile
        return done(std::move(out));
      }
      self->when_durable([out = std::move(out), result = std::move(result),
                          done](std::optional<Error> lost) mutable {
        if (lost) {
          out.error = std::move(lost);
        } else {
          out.result = std::move(result);
        }
        done(std::move(out));
      });
      return;
    }
    out.error = std::move(error);
    // A cancelled run or a closing engine is not the step's failure: nothing to
    // record, but the attempt's report says how it ended.
    bool stopped =
        out.error->code() == ErrorCode::cancelled || out.error->code() == ErrorCode::closed;
    if (stopped) self->report_attempt_stopped(seq, *out.error);
    if (!stopped) {
      try {
        out.will_retry = self->fail_step(seq, *out.error).will_retry;
      } catch (const Error&) {
        // The step was already failed (by its timeout) or the execution ended.
      }
    }
    done(std::move(out));
  };

  auto stopped_error = [self, call, label]() {
    if (self->core_->closing()) return Error(ErrorCode::closed, label + ": the engine is closing");
    return Error(ErrorCode::cancelled, label + ": the request was cancelled");
  };

  // Sends the request (admitted, if it has a resource).
  auto send = [self, seq, call, secrets, label, finish, stopped_error,
               wire = wire_request(request, run_id() + ":" + std::to_string(seq)),
               max_bytes = core_->options().max_payload_bytes]() mutable {
    auto response = std::make_shared<Response>();
    HttpCallbacks cb;
    cb.on_head = [response](const HttpResponseHead& head) { response->head = head; };
    cb.on_body = [self, seq, response, max_bytes](std::string_view bytes) {
      if (response->body.size() + bytes.size() > max_bytes) {
        response->too_large = true;
        throw Error(ErrorCode::payload_too_large, "over the payload limit");  // ends the transfer
      }
      response->body.append(bytes);
      try {
        self->heartbeat(seq);  // a body that keeps coming is alive, whatever its step timeout
      } catch (const Error&) {
      }
    };
    cb.on_done = [self, response, secrets, label, finish, stopped_error,
                  max_bytes](const HttpOutcome& outcome) {
      auto scrub = [&](const std::string& text) {
        return redact(without_secrets(text, *secrets), *secrets);
      };
      if (response->too_large) {
        return finish(std::nullopt,
                      Error(ErrorCode::payload_too_large,
                            label + ": the response body is over the payload limit of " +
                                std::to_string(max_bytes) + " bytes"));
      }
      using Kind = HttpOutcome::Kind;
      switch (outcome.kind) {
        case Kind::completed:
          break;
        case Kind::cancelled:
          return finish(std::nullopt, stopped_error());
        case Kind::idle_timeout:
        case Kind::total_timeout:
          return finish(std::nullopt, Error(ErrorCode::timeout, scrub(label + ": " + outcome.message),
                                            ErrorClass::timeout));
        default:
          return finish(std::nullopt, Error(ErrorCode::step_failed,
                                            scrub(label + ": " + outcome.message),
                                            ErrorClass::retryable));
      }
      long status = response->head.status;
      if (status < 200 || status > 399) {
        ErrorClass cls = ErrorClass::fatal;
        if (status == 408 || status == 409 || status == 425 || status >= 500) {
          cls = ErrorClass::retryable;
        }
        std::optional<int64_t> wait;
        if (status == 429) {
          cls = ErrorClass::rate_limited;
          wait = retry_after_ms(response->head, self->core_->now_ms());
        }
        std::string quoted = valid_utf8(response->body.substr(0, kQuotedBody));
        std::string message = label + " answered HTTP " + std::to_string(status);
        if (!quoted.empty()) message += ": " + quoted;
        if (wait) message += "; retry after " + std::to_string(*wait) + " ms";
        return finish(std::nullopt,
                      Error(ErrorCode::step_failed, scrub(message), cls, wait.value_or(0)));
      }
      HttpStepResult result;
      result.status = static_cast<int>(status);
      for (const auto& [header, value] : response->head.headers) {
        std::string shown = is_credential_header(header) ? "[redacted]" : without_secrets(value, *secrets);
        auto [it, fresh] = result.headers.emplace(header, shown);
        if (!fresh) it->second += ", " + shown;
      }
      result.body = secrets->empty() ? std::move(response->body)
                                     : without_secrets(std::move(response->body), *secrets);
      if (is_json_type(result.header("content-type"))) {
        boost::system::error_code ec;
        Json parsed = boost::json::parse(result.body, ec);
        if (!ec) result.json = std::move(parsed);
      }
      finish(std::move(result), std::nullopt);
    };
    auto transfer = self->core_->llm().http().start(std::move(wire), std::move(cb));
    if (!call->attach(transfer)) transfer->cancel();  // cancelled before it was known
  };

  // The request goes out only once every earlier write of the run is
  // committed: a crash must not find it sent with nothing before it stored.
  when_durable([self, seq, attempt, call, finish, send, stopped_error,
                resource = request.resource, method = request.method,
                host = host_of(request.url), name = std::string(name)](
                   std::optional<Error> lost) mutable {
    if (lost) return finish(std::nullopt, std::move(lost));
    bool stop_now = false;
    {
      std::lock_guard lock(self->mutex_);
      auto it = self->stored_.find(seq);
      stop_now = self->cancelled_.load() || self->finished_ || it == self->stored_.end() ||
                 it->second.status != "begun";
      if (!stop_now) {
        self->llm_calls_[seq] = call;
        self->submit_locked([run = self->run_id(), data = boost::json::object{
                                                       {"seq", seq},
                                                       {"name", name},
                                                       {"attempt", attempt},
                                                       {"method", method},
                                                       {"host", host}}](Batch& b) {
          b.event(run, "http.attempt", data);
        });
      }
    }
    if (stop_now) return finish(std::nullopt, stopped_error());
    if (resource.empty()) return send();
    auto wait = self->core_->resources().acquire(
        resource, 0,
        [self, seq, finish, send, stopped_error](ResourcePermit permit,
                                                 const Error* error) mutable {
          if (error) return finish(std::nullopt, *error);
          bool wanted = false;
          {
            std::lock_guard lock(self->mutex_);
            auto it = self->stored_.find(seq);
            wanted = !self->finished_ && it != self->stored_.end() && it->second.status == "begun";
            // Returned when the step completes or fails; a 429 pauses the resource then.
            if (wanted) self->step_permits_[seq].push_back(std::move(permit));
          }
          if (!wanted) return finish(std::nullopt, stopped_error());  // ended meanwhile
          send();
        });
    bool stopped = false;
    {
      std::lock_guard lock(self->mutex_);
      stopped = self->cancelled_.load() || self->finished_;
      if (!stopped && wait) self->step_waits_[seq].push_back(wait);
    }
    if (stopped && wait) wait->cancel();
  });
}

}  // namespace storyloom::detail
