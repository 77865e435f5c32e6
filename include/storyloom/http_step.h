// The built-in http step: one HTTP request, memoized like a step. A new
// attempt is sent (once every earlier write of the run is committed) through
// the engine's HTTP client, admitted first through a resource when the
// request names one; its response is stored, so a replay, also after a
// crash, returns it without sending the request again.
//
// Every attempt carries an idempotency key header ("<run id>:<seq>", the same
// for every retry and replay of the step) so a server can drop a repeat of a
// request whose answer was lost.
//
// Secrets: a header marked `secret`, and every header whose name is a known
// credential (Authorization, Proxy-Authorization, Cookie, X-Api-Key, Api-Key,
// X-Auth-Token, X-Goog-Api-Key), is sent and never stored: the request is not
// stored at all; in the stored result such response headers (and Set-Cookie)
// read "[redacted]", and each secret value is replaced by "[redacted]" in the
// stored body and in every error message. Events and errors name the method
// and host:port, never the URL's path or query (they may carry tokens).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/error.h"
#include "storyloom/json.h"

namespace storyloom {

struct HttpStepHeader {
  std::string name;   // a token: letters, digits and !#$%&'*+-.^_`|~
  std::string value;  // no CR, LF or NUL
  bool secret = false;  // never stored (credential headers are secret anyway)
};

struct HttpStepRequest {
  std::string method = "GET";  // upper case: GET, POST, PUT, PATCH, DELETE, HEAD, ...
  std::string url;             // http:// or https://, a host, no user:password@
  std::vector<HttpStepHeader> headers;
  // The body, at most one of the two: JSON (sent with Content-Type
  // application/json unless a header names another type) or bytes. GET and
  // HEAD take none.
  std::optional<Json> json = {};
  std::optional<std::string> body = {};
  // Admitted through this resource (storyloom/resource.h) before it is sent;
  // a 429 with Retry-After pauses the resource. "": none.
  std::string resource = {};
  std::chrono::milliseconds connect_timeout{10000};
  // No byte from the server this long fails the attempt (ErrorCode::timeout,
  // retried per the policy); 1 ms .. 24 h.
  std::chrono::milliseconds idle_timeout{30000};
  // The whole attempt over this long fails it the same way; 0: none.
  std::chrono::milliseconds total_timeout{0};
  // The header that carries the idempotency key; "" sends none.
  std::string idempotency_header = "Idempotency-Key";
};

// What the http step stores and returns: any 2xx or 3xx answer (redirects
// are not followed). Other statuses fail the attempt: 408, 409, 425, 5xx and
// broken connections retryable, 429 rate-limited with its Retry-After, every
// other 4xx fatal; each error names the step, method, host:port and status
// and quotes the start of the body.
struct HttpStepResult {
  int status = 0;
  // Lowercased names; repeated headers joined with ", "; secret ones "[redacted]".
  std::map<std::string, std::string> headers;
  std::string body;    // the bytes as received (secret values redacted)
  Json json = nullptr;  // the body parsed when Content-Type says JSON and it parses; else null

  // The header of that lowercase name, or "".
  std::string header(std::string_view lowercase_name) const;
};

// Requests and results cross the C ABI as JSON:
// request {"method","url","headers":[{"name","value","secret"}] or {"Name":"value"},
//          "json": any, "body": "UTF-8 text", "body_base64": "...", "resource",
//          "connect_timeout_ms","idle_timeout_ms","total_timeout_ms","idempotency_header"}
//          (only url is required; at most one of json, body, body_base64);
// result {"status","headers":{name:value},"body" (when UTF-8) or "body_base64","json"}.
Json to_json(const HttpStepResult& result);
// Throw Error(invalid_argument) naming the field that is missing or wrong.
HttpStepRequest http_request_from_json(const Json& json);
HttpStepResult http_result_from_json(const Json& json);
// Throws Error(invalid_argument) naming what is wrong: the method, the URL
// (scheme, host, credentials in it, control characters), a header name or
// value, a body on GET/HEAD, both json and body, a timeout out of range.
void validate(const HttpStepRequest& request);

// How one http step call ended, given to its callback exactly once.
struct HttpStepOutcome {
  std::optional<HttpStepResult> result;  // set on success (memoized or fresh)
  std::optional<Error> error;            // set on failure
  bool memoized = false;                 // the result was stored by an earlier execution
  // The failure will be retried per the step's policy: unwind the workflow
  // and call any finish_*; the run is requeued.
  bool will_retry = false;
};

using HttpStepCallback = std::function<void(HttpStepOutcome outcome)>;

}  // namespace storyloom
