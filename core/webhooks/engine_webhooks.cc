// The Engine's webhook calls: configuring outbound deliveries, and receiving
// inbound webhooks once per webhook id.
#include "engine/engine_core.h"
#include "engine/validate.h"
#include "storyloom/engine.h"
#include "webhooks/dispatcher.h"

namespace storyloom {
namespace {

// Signals sent by inbound webhooks go through a run of this workflow whose
// idempotency key is the webhook id: a re-delivery finds the run and sends
// nothing, and a crash between receiving and signalling resumes the signal.
constexpr const char* kInboundSignalWorkflow = "storyloom.webhook.inbound";

void ensure_inbound_workflow(detail::EngineCore& core) {
  if (core.has_workflow(kInboundSignalWorkflow)) return;
  detail::EngineCore* engine = &core;
  auto signal = [engine](Context& ctx, const Json& input) -> Json {
    const auto& in = input.as_object();
    ctx.step("signal", [&] {
      engine->signal(in.at("run_id").as_string(), in.at("name").as_string(), in.at("payload"));
      return Json(nullptr);
    });
    return nullptr;
  };
  try {
    core.register_workflow(kInboundSignalWorkflow, detail::Workflow{signal, nullptr, {}});
  } catch (const Error& e) {
    if (!core.has_workflow(kInboundSignalWorkflow)) throw;  // not a lost race: a real error
  }
}

}  // namespace

void Engine::configure_webhooks(WebhookOptions options) { core_->webhooks().configure(std::move(options)); }

InboundResult Engine::receive_webhook(const InboundWebhook& hook, const WebhookHeaders& headers,
                                      std::string_view body) {
  if (hook.secret.empty()) throw Error(ErrorCode::invalid_argument, "inbound webhook secret is empty");
  bool signals = !hook.signal_run_id.empty();
  if (signals == !hook.workflow.empty()) {
    throw Error(ErrorCode::invalid_argument,
                "inbound webhook needs either a workflow to start or a run to signal, not both");
  }
  if (signals) detail::check_name("inbound webhook signal name", hook.signal_name);
  if (hook.tolerance.count() <= 0) {
    throw Error(ErrorCode::invalid_argument, "inbound webhook tolerance must be positive");
  }
  InboundResult result;
  result.verdict = verify_webhook(hook.secret, headers, body, core_->now_ms() / 1000, hook.tolerance);
  if (!result.verdict.ok()) return result;
  std::string key = "webhook:" + headers.id;
  try {
    detail::check_no_control("webhook-id", key);
  } catch (const Error& e) {
    result.verdict = {400, e.what()};
    return result;
  }
  if (key.size() > kMaxKeyBytes) {
    result.verdict = {400, "the webhook-id header is longer than " +
                               std::to_string(kMaxKeyBytes - 8) + " bytes"};
    return result;
  }
  Json payload;
  try {
    payload = parse_json(body, "webhook body", core_->options().max_json_depth);
  } catch (const Error& e) {
    result.verdict = {400, e.what()};
    return result;
  }
  result.duplicate = core_->read()->find_run_by_key(key).has_value();
  if (!signals) {
    if (!payload.is_object()) {
      result.verdict = {400, "the webhook body must be a JSON object to start a run"};
      return result;
    }
    StartOptions options;
    options.idempotency_key = key;
    options.owner = hook.owner;
    result.run = core_->start(hook.workflow, std::move(payload), options);
    return result;
  }
  RunInfo target = core_->get(hook.signal_run_id);  // not_found before anything is recorded
  ensure_inbound_workflow(*core_);
  StartOptions options;
  options.idempotency_key = key;
  core_->start(kInboundSignalWorkflow,
               boost::json::object{{"run_id", hook.signal_run_id},
                                   {"name", hook.signal_name},
                                   {"payload", std::move(payload)}},
               options);
  result.run = std::move(target);
  return result;
}

}  // namespace storyloom
