// The built-in http step: memoized like a host step, sent through the
// engine's HttpClient (shared with the LLM client), admitted through a
// resource when asked, its attempts retried per policy. Secret header values
// never reach the store: the request is not stored, and they are redacted
// from the stored response and from every error.
#include <algorithm>
#include <cctype>

#include "engine/builtin_attempt.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/provider_transfer.h"
#include "llm/llm_client.h"
#include "llm/llm_errors.h"

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

}  // namespace

void ExecutionState::http(std::string_view name, HttpStepRequest request, HttpStepCallback done,
                          std::optional<RetryPolicy> retry) {
  validate(request);
  if (retry) validate(*retry);
  if (!done) throw Error(ErrorCode::invalid_argument, "http step '" + std::string(name) + "' needs a callback");
  BuiltinStart start;
  {
    std::lock_guard lock(mutex_);
    start = start_builtin_locked(name, "http", retry, {});
  }
  if (start.memoized) return done(memoized_outcome<HttpStepOutcome>(std::move(start), http_result_from_json));
  const int64_t seq = start.seq;

  auto self = shared_from_this();
  auto call = std::make_shared<TransferCall>();
  auto secrets = std::make_shared<const std::vector<std::string>>(secret_values(request));
  const std::string label =
      "http step '" + std::string(name) + "': " + request.method + " " + host_of(request.url);

  // How the attempt ended: stored (the workflow sees it once committed) or failed.
  auto finish = [self, seq, done](std::optional<HttpStepResult> result,
                                  std::optional<Error> error) {
    auto kept = result ? std::make_shared<HttpStepResult>(std::move(*result)) : nullptr;
    self->end_attempt(seq, kept ? std::optional<Json>(to_json(*kept)) : std::nullopt,
                      std::move(error), deliver_outcome(done, kept));
  };

  // Sends the request (admitted, if it has a resource).
  auto send = [self, seq, call, secrets, label, finish,
               wire = wire_request(request, run_id() + ":" + std::to_string(seq)),
               max_bytes = core_->options().max_payload_bytes]() mutable {
    auto response = std::make_shared<CollectedResponse>();
    HttpCallbacks cb = collect_response(response, max_bytes, [self, seq] {
      try {
        self->heartbeat(seq);
      } catch (const Error&) {
      }
    });
    cb.on_done = [self, response, secrets, label, finish, max_bytes](const HttpOutcome& outcome) {
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
          return finish(std::nullopt, self->attempt_stopped_error(label));
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
    call->start(self->core_->llm().http(), std::move(wire), std::move(cb));
  };

  ProviderSend how;
  how.call = call;
  how.resource = request.resource;
  how.label = label;
  // The attempt's event is written once the call is kept, before any resource wait.
  how.on_kept_locked = [this, data = boost::json::object{{"seq", seq},
                                                           {"name", std::string(name)},
                                                           {"attempt", start.attempt},
                                                           {"method", request.method},
                                                           {"host", host_of(request.url)}}]() {
    submit_locked([run = run_id(), data](Batch& b) { b.event(run, "http.attempt", data); });
  };
  how.send = std::move(send);
  how.fail = [finish](Error error) { finish(std::nullopt, std::move(error)); };
  send_when_durable(seq, std::move(how));
}

}  // namespace storyloom::detail
