// Webhook options and results as JSON, for hosts without C++ structs.
#include <initializer_list>

#include "storyloom/webhooks.h"

namespace storyloom {
namespace {

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::invalid_argument, where + " " + what);
}

const boost::json::object& object_at(const Json& json, const std::string& where) {
  if (!json.is_object()) bad(where, "must be a JSON object");
  return json.as_object();
}

void only_keys(const boost::json::object& o, std::initializer_list<const char*> known,
               const std::string& where) {
  for (const auto& [key, value] : o) {
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) bad(where, "has an unknown key '" + std::string(key) + "'");
  }
}

std::string text_at(const boost::json::object& o, const char* key, const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) bad(where + "." + key, "must be a string");
  return std::string(v->as_string());
}

// A non-negative integer, or `fallback` when absent.
int64_t integer_at(const boost::json::object& o, const char* key, int64_t fallback,
                   const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_int64() || v->as_int64() < 0) bad(where + "." + key, "must be a non-negative integer");
  return v->as_int64();
}

std::vector<std::string> texts_at(const boost::json::object& o, const char* key,
                                  std::vector<std::string> fallback, const std::string& where) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_array()) bad(where + "." + key, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) bad(where + "." + key, "must be an array of strings");
    out.emplace_back(item.as_string());
  }
  return out;
}

}  // namespace

WebhookOptions webhook_options_from_json(const Json& json) {
  const std::string where = "webhooks";
  const auto& o = object_at(json, where);
  only_keys(o, {"subscriptions", "max_attempts", "initial_backoff_ms", "multiplier", "max_backoff_ms",
                "attempt_timeout_ms"},
            where);
  WebhookOptions options;
  if (const auto* subs = o.if_contains("subscriptions"); subs && !subs->is_null()) {
    if (!subs->is_array()) bad(where + ".subscriptions", "must be an array");
    size_t i = 0;
    for (const auto& item : subs->as_array()) {
      std::string at = where + ".subscriptions[" + std::to_string(i++) + "]";
      const auto& s = object_at(item, at);
      only_keys(s, {"id", "url", "secret", "workflows", "events"}, at);
      WebhookSubscription sub;
      sub.id = text_at(s, "id", at);
      sub.url = text_at(s, "url", at);
      sub.secret = text_at(s, "secret", at);
      sub.workflows = texts_at(s, "workflows", {}, at);
      sub.events = texts_at(s, "events", sub.events, at);
      options.subscriptions.push_back(std::move(sub));
    }
  }
  options.retry.max_attempts =
      static_cast<int>(integer_at(o, "max_attempts", options.retry.max_attempts, where));
  options.retry.initial_backoff = std::chrono::milliseconds(
      integer_at(o, "initial_backoff_ms", options.retry.initial_backoff.count(), where));
  options.retry.max_backoff = std::chrono::milliseconds(
      integer_at(o, "max_backoff_ms", options.retry.max_backoff.count(), where));
  if (const auto* m = o.if_contains("multiplier"); m && !m->is_null()) {
    if (!m->is_number()) bad(where + ".multiplier", "must be a number");
    options.retry.multiplier = m->to_number<double>();
  }
  options.attempt_timeout = std::chrono::milliseconds(
      integer_at(o, "attempt_timeout_ms", options.attempt_timeout.count(), where));
  return options;
}

InboundWebhook inbound_webhook_from_json(const Json& json) {
  const std::string where = "inbound webhook";
  const auto& o = object_at(json, where);
  only_keys(o, {"secret", "tolerance_s", "workflow", "owner", "signal_run_id", "signal_name"}, where);
  InboundWebhook hook;
  hook.secret = text_at(o, "secret", where);
  hook.tolerance = std::chrono::seconds(integer_at(o, "tolerance_s", hook.tolerance.count(), where));
  hook.workflow = text_at(o, "workflow", where);
  hook.owner = text_at(o, "owner", where);
  hook.signal_run_id = text_at(o, "signal_run_id", where);
  hook.signal_name = text_at(o, "signal_name", where);
  return hook;
}

Json to_json(const InboundResult& result) {
  return boost::json::object{{"status", result.verdict.http_status},
                             {"message", result.verdict.message},
                             {"run", result.run ? to_json(*result.run) : Json(nullptr)},
                             {"duplicate", result.duplicate}};
}

}  // namespace storyloom
