// The http step's request and result as JSON (the C ABI's and the store's
// form), and the checks a request must pass before anything is sent.
#include <algorithm>
#include <array>
#include <cctype>

#include "engine/validate.h"
#include "storyloom/clock.h"
#include "storyloom/http_step.h"

namespace storyloom {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr size_t kMaxUrlBytes = 8192;
constexpr int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kBase64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kBase64[n & 63] : '=';
  }
  return out;
}

std::string base64_decode(std::string_view text, std::string_view what) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kBase64[i])] = i;
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int v = value[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      throw Error(ErrorCode::invalid_argument, std::string(what) + " is not base64: byte " +
                                                   std::to_string(i) + " is not in its alphabet");
    }
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  if (count >= 6) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + " is not base64: its length is wrong");
  }
  return out;
}

const Json* field(const boost::json::object& o, std::string_view key) { return o.if_contains(key); }

std::string string_field(const boost::json::object& o, std::string_view key, std::string fallback) {
  const Json* v = field(o, key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_string()) {
    throw Error(ErrorCode::invalid_argument, "http request field '" + std::string(key) +
                                                 "' must be a string, got " + boost::json::serialize(*v));
  }
  return std::string(v->get_string());
}

std::chrono::milliseconds ms_field(const boost::json::object& o, std::string_view key,
                                   std::chrono::milliseconds fallback) {
  const Json* v = field(o, key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_int64() && !v->is_uint64()) {
    throw Error(ErrorCode::invalid_argument, "http request field '" + std::string(key) +
                                                 "' must be an integer (milliseconds), got " +
                                                 boost::json::serialize(*v));
  }
  if (v->is_uint64() && v->get_uint64() > static_cast<uint64_t>(INT64_MAX)) {
    throw Error(ErrorCode::invalid_argument, "http request field '" + std::string(key) + "' is too large");
  }
  return std::chrono::milliseconds(v->to_number<int64_t>());
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void check_timeout(const char* what, std::chrono::milliseconds value, int64_t minimum) {
  if (value.count() < minimum || value.count() > kMaxTimeoutMs) {
    throw Error(ErrorCode::invalid_argument,
                std::string("http request ") + what + " must be " + std::to_string(minimum) +
                    " ms to 24 h, got " + std::to_string(value.count()) + " ms");
  }
}

}  // namespace

std::string HttpStepResult::header(std::string_view lowercase_name) const {
  auto it = headers.find(std::string(lowercase_name));
  return it == headers.end() ? "" : it->second;
}

void validate(const HttpStepRequest& r) {
  if (r.method.empty() || r.method.size() > 32 ||
      !std::all_of(r.method.begin(), r.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    throw Error(ErrorCode::invalid_argument,
                "http request method '" + r.method.substr(0, 64) +
                    "' is not an HTTP method: 1 to 32 upper-case letters (GET, POST, PUT, ...)");
  }
  std::string_view url = r.url;
  size_t scheme = url.rfind("https://", 0) == 0 ? 8 : url.rfind("http://", 0) == 0 ? 7 : 0;
  if (scheme == 0) {
    throw Error(ErrorCode::invalid_argument, "http request url '" + r.url.substr(0, 64) +
                                                 "' must start with http:// or https://");
  }
  if (url.size() > kMaxUrlBytes) {
    throw Error(ErrorCode::invalid_argument, "http request url is " + std::to_string(url.size()) +
                                                 " bytes; the limit is " + std::to_string(kMaxUrlBytes));
  }
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; })) {
    throw Error(ErrorCode::invalid_argument,
                "http request url holds a space or a control character; percent-encode it");
  }
  std::string_view authority = url.substr(scheme, url.find_first_of("/?#", scheme) - scheme);
  if (authority.find('@') != std::string_view::npos) {
    // The URL reaches events and errors in part: credentials go in a header.
    throw Error(ErrorCode::invalid_argument,
                "http request url holds credentials (user:password@); send them in a secret "
                "header (Authorization) instead");
  }
  if (authority.empty() || authority.front() == ':') {
    throw Error(ErrorCode::invalid_argument, "http request url names no host");
  }
  for (const auto& h : r.headers) {
    if (h.name.empty() || h.name.size() > 256 ||
        !std::all_of(h.name.begin(), h.name.end(), is_token_char)) {
      throw Error(ErrorCode::invalid_argument,
                  "http request header name '" + h.name.substr(0, 64) +
                      "' is not a token (letters, digits and !#$%&'*+-.^_`|~)");
    }
    if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      throw Error(ErrorCode::invalid_argument,
                  "http request header '" + h.name + "' holds a line break or NUL");
    }
  }
  if (!r.idempotency_header.empty() &&
      !std::all_of(r.idempotency_header.begin(), r.idempotency_header.end(), is_token_char)) {
    throw Error(ErrorCode::invalid_argument, "http request idempotency_header '" +
                                                 r.idempotency_header.substr(0, 64) +
                                                 "' is not a header name");
  }
  if (r.json && r.body) {
    throw Error(ErrorCode::invalid_argument, "http request has both json and body; send one");
  }
  if ((r.json || r.body) && (r.method == "GET" || r.method == "HEAD")) {
    throw Error(ErrorCode::invalid_argument,
                "http request method " + r.method + " takes no body; use POST, PUT or PATCH");
  }
  if (!r.resource.empty()) detail::check_name("http request resource", r.resource);
  check_timeout("connect_timeout", r.connect_timeout, 1);
  check_timeout("idle_timeout", r.idle_timeout, 1);
  check_timeout("total_timeout", r.total_timeout, 0);
}

HttpStepRequest http_request_from_json(const Json& json) {
  if (!json.is_object()) {
    throw Error(ErrorCode::invalid_argument, "an http request must be a JSON object");
  }
  const auto& o = json.get_object();
  static constexpr std::string_view kKnown[] = {
      "method",          "url",          "headers",         "json",
      "body",            "body_base64",  "resource",        "connect_timeout_ms",
      "idle_timeout_ms", "total_timeout_ms", "idempotency_header"};
  for (const auto& [key, value] : o) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      throw Error(ErrorCode::invalid_argument,
                  "http request has an unknown field '" + std::string(key) +
                      "' (known: method, url, headers, json, body, body_base64, resource, "
                      "connect_timeout_ms, idle_timeout_ms, total_timeout_ms, idempotency_header)");
    }
  }
  HttpStepRequest r;
  r.method = string_field(o, "method", r.method);
  r.url = string_field(o, "url", "");
  if (r.url.empty()) throw Error(ErrorCode::invalid_argument, "http request needs a url");
  if (const Json* h = field(o, "headers"); h && !h->is_null()) {
    if (h->is_object()) {
      for (const auto& [name, value] : h->get_object()) {
        if (!value.is_string()) {
          throw Error(ErrorCode::invalid_argument,
                      "http request header '" + std::string(name) + "' must have a string value");
        }
        r.headers.push_back({std::string(name), std::string(value.get_string()), false});
      }
    } else if (h->is_array()) {
      for (const auto& item : h->get_array()) {
        if (!item.is_object()) {
          throw Error(ErrorCode::invalid_argument,
                      "http request headers must be objects {\"name\",\"value\",\"secret\"}");
        }
        const auto& ho = item.get_object();
        HttpStepHeader header;
        header.name = string_field(ho, "name", "");
        header.value = string_field(ho, "value", "");
        if (const Json* s = ho.if_contains("secret"); s && !s->is_null()) {
          if (!s->is_bool()) {
            throw Error(ErrorCode::invalid_argument,
                        "http request header '" + header.name + "': secret must be true or false");
          }
          header.secret = s->get_bool();
        }
        r.headers.push_back(std::move(header));
      }
    } else {
      throw Error(ErrorCode::invalid_argument,
                  "http request headers must be an object {name: value} or an array of "
                  "{\"name\",\"value\",\"secret\"}");
    }
  }
  if (const Json* j = field(o, "json")) r.json = *j;
  int bodies = (r.json ? 1 : 0) + (field(o, "body") ? 1 : 0) + (field(o, "body_base64") ? 1 : 0);
  if (bodies > 1) {
    throw Error(ErrorCode::invalid_argument,
                "http request has more than one of json, body and body_base64; send one");
  }
  if (field(o, "body")) r.body = string_field(o, "body", "");
  if (field(o, "body_base64")) {
    r.body = base64_decode(string_field(o, "body_base64", ""), "http request body_base64");
  }
  r.resource = string_field(o, "resource", "");
  r.connect_timeout = ms_field(o, "connect_timeout_ms", r.connect_timeout);
  r.idle_timeout = ms_field(o, "idle_timeout_ms", r.idle_timeout);
  r.total_timeout = ms_field(o, "total_timeout_ms", r.total_timeout);
  r.idempotency_header = string_field(o, "idempotency_header", r.idempotency_header);
  return r;
}

Json to_json(const HttpStepResult& r) {
  boost::json::object headers;
  for (const auto& [name, value] : r.headers) headers[name] = value;
  boost::json::object out{{"status", r.status}, {"headers", std::move(headers)}};
  if (detail::is_valid_utf8(r.body)) {
    out["body"] = r.body;
  } else {
    out["body_base64"] = base64_encode(r.body);
  }
  out["json"] = r.json;
  return out;
}

HttpStepResult http_result_from_json(const Json& json) {
  if (!json.is_object()) {
    throw Error(ErrorCode::invalid_argument, "a stored http result must be a JSON object");
  }
  const auto& o = json.get_object();
  HttpStepResult r;
  const Json* status = o.if_contains("status");
  if (!status || !status->is_int64()) {
    throw Error(ErrorCode::invalid_argument, "a stored http result needs an integer status");
  }
  r.status = static_cast<int>(status->get_int64());
  if (const Json* h = o.if_contains("headers"); h && h->is_object()) {
    for (const auto& [name, value] : h->get_object()) {
      if (value.is_string()) r.headers[std::string(name)] = std::string(value.get_string());
    }
  }
  if (const Json* b = o.if_contains("body"); b && b->is_string()) {
    r.body = std::string(b->get_string());
  } else if (const Json* b64 = o.if_contains("body_base64"); b64 && b64->is_string()) {
    r.body = base64_decode(b64->get_string(), "a stored http result's body_base64");
  }
  if (const Json* j = o.if_contains("json")) r.json = *j;
  return r;
}

}  // namespace storyloom
