// `storyloom webhooks SUBSCRIPTION` and `storyloom resend RUN`.
#include "commands.h"
#include "storyloom/webhooks.h"

namespace storyloom::cli {

void print_webhook_log(StoreReader& reader, const CommandLine& cmd, std::ostream& out) {
  for (const auto& delivery : webhook_log(reader, cmd.run_id)) {
    out << to_json_text(to_json(delivery)) << "\n";
  }
}

void resend_webhook(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  RunInfo run = engine.get(cmd.run_id);
  if (run.workflow != kWebhookWorkflow) {
    throw Error(ErrorCode::invalid_argument, "run '" + run.id + "' is not a webhook delivery (its workflow is '" +
                                                 run.workflow + "'); use retry for other runs");
  }
  engine.retry(run.id);
  std::string webhook_id;
  if (const auto* id = run.input.is_object() ? run.input.as_object().if_contains("webhook_id") : nullptr) {
    if (id->is_string()) webhook_id = std::string(id->as_string());
  }
  out << "queued delivery " << run.id << " (" << webhook_id << ") again\n";
}

}  // namespace storyloom::cli
