// The process webhook_process_test.cc kills and restarts: opens an engine on
// DB with one subscription ("orders", to URL), starts the run "story-1"
// (idempotent, so every incarnation asks for the same one), and exits 0 once
// the subscription's log shows a delivered message (1 after 60 s).
//
//   webhook_host DB URL MAX_ATTEMPTS ATTEMPT_TIMEOUT_MS BACKOFF_MS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "storyloom/engine.h"

using namespace storyloom;
using std::chrono::milliseconds;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: webhook_host DB URL MAX_ATTEMPTS ATTEMPT_TIMEOUT_MS BACKOFF_MS\n");
    return 2;
  }
  EngineOptions options;
  options.store = std::string("sqlite:") + argv[1];
  options.workers = 2;
  options.poll_interval = milliseconds(20);
  options.lease_ttl = milliseconds(1000);
  auto engine = Engine::open(options);
  engine->register_workflow("story", [](Context&, const Json&) { return Json("the end"); });
  WebhookOptions hooks;
  hooks.subscriptions.push_back(
      {"orders", argv[2], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", {}, {"run.completed"}});
  hooks.retry.max_attempts = std::atoi(argv[3]);
  hooks.attempt_timeout = milliseconds(std::atoi(argv[4]));
  hooks.retry.initial_backoff = milliseconds(std::atoi(argv[5]));
  hooks.retry.max_backoff = hooks.retry.initial_backoff;
  hooks.retry.jitter = false;
  engine->configure_webhooks(hooks);
  StartOptions start;
  start.idempotency_key = "story-1";
  engine->start("story", boost::json::object{}, start);
  engine->launch();
  for (int i = 0; i < 3000; ++i) {
    for (const auto& d : webhook_log(*engine, "orders")) {
      if (d.state == "delivered") {
        std::printf("delivered %s\n", d.webhook_id.c_str());
        std::fflush(stdout);
        engine->close();
        return 0;
      }
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return 1;
}
