// The delivery log of a subscription, read from its delivery runs (owner
// "webhook:<id>") and their webhook.attempt events.
#include <deque>
#include <functional>

#include "storyloom/engine.h"
#include "storyloom/store_reader.h"
#include "storyloom/webhooks.h"

namespace storyloom {
namespace {

using ListFn = std::function<RunPage(const RunFilter&)>;
using EventsFn = std::function<std::vector<Event>(const std::string&, int64_t)>;

std::string text(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t number(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<int64_t>() : 0;
}

const char* state_of(RunStatus status) {
  switch (status) {
    case RunStatus::completed: return "delivered";
    case RunStatus::failed: return "dead";
    case RunStatus::cancelled: return "cancelled";
    default: return "pending";
  }
}

std::vector<WebhookDelivery> read_log(const ListFn& list, const EventsFn& events,
                                      std::string_view subscription, size_t limit) {
  if (subscription.empty()) throw Error(ErrorCode::invalid_argument, "webhook subscription id is empty");
  if (limit < 1 || limit > 1000) {
    throw Error(ErrorCode::invalid_argument,
                "webhook log limit must be from 1 to 1000, got " + std::to_string(limit));
  }
  // Runs are listed oldest first: page through and keep the latest `limit`.
  std::deque<RunInfo> runs;
  RunFilter filter;
  filter.workflow = kWebhookWorkflow;
  filter.owner = "webhook:" + std::string(subscription);
  filter.limit = 1000;
  for (;;) {
    RunPage page = list(filter);
    for (auto& run : page.runs) {
      runs.push_back(std::move(run));
      if (runs.size() > limit) runs.pop_front();
    }
    if (page.next_cursor.empty()) break;
    filter.after_run_id = page.next_cursor;
  }
  std::vector<WebhookDelivery> log;
  for (const auto& run : runs) {
    WebhookDelivery d;
    d.run_id = run.id;
    d.subscription = std::string(subscription);
    d.state = state_of(run.status);
    d.created_at_ms = run.created_at_ms;
    if (run.input.is_object()) {
      const auto& in = run.input.as_object();
      d.webhook_id = text(in, "webhook_id");
      if (const auto* e = in.if_contains("event"); e && e->is_object()) {
        d.event_type = text(e->as_object(), "type");
        d.event_id = number(e->as_object(), "id");
        d.source_run_id = text(e->as_object(), "run_id");
      }
    }
    int64_t after = 0;
    for (;;) {
      auto page = events(run.id, after);
      for (const auto& e : page) {
        after = e.id;
        if (e.type != "webhook.attempt" || !e.data.is_object()) continue;
        const auto& data = e.data.as_object();
        d.attempts.push_back(WebhookAttempt{e.created_at_ms, number(data, "status"),
                                            number(data, "latency_ms"), text(data, "error")});
      }
      if (page.size() < 1000) break;
    }
    log.push_back(std::move(d));
  }
  return log;
}

}  // namespace

std::vector<WebhookDelivery> webhook_log(Engine& engine, std::string_view subscription, size_t limit) {
  return read_log([&](const RunFilter& f) { return engine.list(f); },
                  [&](const std::string& id, int64_t after) { return engine.events(id, after, 1000); },
                  subscription, limit);
}

std::vector<WebhookDelivery> webhook_log(StoreReader& reader, std::string_view subscription,
                                         size_t limit) {
  return read_log([&](const RunFilter& f) { return reader.list(f); },
                  [&](const std::string& id, int64_t after) { return reader.events(id, after, 1000); },
                  subscription, limit);
}

Json to_json(const WebhookDelivery& d) {
  boost::json::array attempts;
  for (const auto& a : d.attempts) {
    attempts.push_back(boost::json::object{{"at_ms", a.at_ms},
                                           {"status", a.status},
                                           {"latency_ms", a.latency_ms},
                                           {"error", a.error.empty() ? Json(nullptr) : Json(a.error)}});
  }
  return boost::json::object{{"webhook_id", d.webhook_id},       {"run_id", d.run_id},
                             {"subscription", d.subscription},   {"event_type", d.event_type},
                             {"event_id", d.event_id},           {"source_run_id", d.source_run_id},
                             {"state", d.state},                 {"created_at_ms", d.created_at_ms},
                             {"attempts", std::move(attempts)}};
}

}  // namespace storyloom
