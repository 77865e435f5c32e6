// Steps' use of resources (host steps through acquire(), http and image
// steps through wait_for_resource()): admitted through the engine's limiter
// with a callback (no thread waits), returned when the step ends.
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/validate.h"

namespace storyloom::detail {

void ExecutionState::acquire(int64_t seq, std::string_view resource, double tokens,
                             std::function<void(std::optional<Error>)> granted) {
  check_name("resource name", resource);
  if (!granted) throw Error(ErrorCode::invalid_argument, "acquire needs a callback");
  {
    std::lock_guard lock(mutex_);
    check_open();
    auto it = stored_.find(seq);
    if (it == stored_.end() || it->second.status != "begun" || it->second.kind != "step") {
      throw Error(ErrorCode::invalid_argument, "step position " + std::to_string(seq) +
                                                   " of run '" + run_id() +
                                                   "' is not a host step begun by this execution");
    }
  }
  // Not wanted any more (held is false): the permit went back at once.
  wait_for_resource(seq, std::string(resource), tokens,
                    [granted](const Error* error, bool) {
                      if (error) return granted(*error);
                      granted(std::nullopt);
                    });
}

void ExecutionState::wait_for_resource(int64_t seq, const std::string& resource, double tokens,
                                       std::function<void(const Error*, bool)> then) {
  auto self = shared_from_this();
  auto wait = core_->resources().acquire(
      resource, tokens, [self, seq, then](ResourcePermit permit, const Error* error) {
        if (error) return then(error, false);
        bool held = false;
        {
          std::lock_guard lock(self->mutex_);
          auto it = self->stored_.find(seq);
          held = !self->finished_ && it != self->stored_.end() && it->second.status == "begun";
          // Returned when the step completes or fails (a 429 pauses the
          // resource then); not wanted any more, `permit` goes after the unlock.
          if (held) self->step_permits_[seq].push_back(std::move(permit));
        }
        then(nullptr, held);
      });
  // A cancel (or the end of the execution) that came while the wait was being
  // set up found nothing to stop: stop it here.
  bool stop_now = false;
  {
    std::lock_guard lock(mutex_);
    stop_now = cancelled_.load() || finished_;
    if (!stop_now && wait) step_waits_[seq].push_back(wait);
  }
  if (stop_now && wait) wait->cancel();
}

ExecutionState::HeldResources ExecutionState::take_resources_locked(int64_t seq) {
  HeldResources held;
  for (auto it = step_permits_.begin(); it != step_permits_.end();) {
    if (seq >= 0 && it->first != seq) {
      ++it;
      continue;
    }
    for (auto& p : it->second) held.permits.push_back(std::move(p));
    it = step_permits_.erase(it);
  }
  for (auto it = step_waits_.begin(); it != step_waits_.end();) {
    if (seq >= 0 && it->first != seq) {
      ++it;
      continue;
    }
    for (auto& w : it->second) held.waits.push_back(std::move(w));
    it = step_waits_.erase(it);
  }
  return held;
}

ExecutionState::HeldResources::~HeldResources() {
  // Waits that were admitted already do nothing on cancel; permits release themselves.
  for (auto& wait : waits) {
    if (wait) wait->cancel();
  }
}

}  // namespace storyloom::detail
