#include "storyloom/engine.h"

#include "engine/engine_core.h"
#include "engine/validate.h"

namespace storyloom {

using detail::EngineCore;

Subscription::Subscription(std::shared_ptr<detail::SubscriptionState> state) : state_(std::move(state)) {}
Subscription::~Subscription() { close(); }
Subscription::Subscription(Subscription&&) noexcept = default;
Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}
void Subscription::close() {
  if (state_) state_->close();
}

Engine::Engine(std::shared_ptr<EngineCore> core) : core_(std::move(core)) {}

std::unique_ptr<Engine> Engine::open(EngineOptions options) {
  if (options.max_json_depth < 1 || options.max_json_depth > kMaxJsonDepthLimit) {
    throw Error(ErrorCode::invalid_argument, "max_json_depth must be from 1 to " +
                                                 std::to_string(kMaxJsonDepthLimit) + ", got " +
                                                 std::to_string(options.max_json_depth));
  }
  return std::unique_ptr<Engine>(new Engine(EngineCore::open(std::move(options))));
}

Engine::~Engine() { close(); }
void Engine::close() { core_->close(); }
void Engine::close_now() { core_->close(std::chrono::milliseconds{0}); }
void Engine::launch() { core_->launch(); }

void Engine::register_workflow(std::string_view name, WorkflowFn fn, WorkflowOptions options) {
  if (!fn) throw Error(ErrorCode::invalid_argument, "workflow function for '" + std::string(name) + "' is empty");
  core_->register_workflow(name, detail::Workflow{std::move(fn), nullptr, options});
}

void Engine::register_workflow(std::string_view name, ExecuteFn fn, WorkflowOptions options) {
  if (!fn) throw Error(ErrorCode::invalid_argument, "workflow callback for '" + std::string(name) + "' is empty");
  core_->register_workflow(name, detail::Workflow{nullptr, std::move(fn), options});
}

RunInfo Engine::start(std::string_view workflow, Json input, const StartOptions& options) {
  detail::check_no_control("owner", options.owner);
  detail::check_no_control("idempotency key", options.idempotency_key);
  return core_->start(workflow, std::move(input), options);
}
RunInfo Engine::get(std::string_view run_id) { return core_->get(run_id); }
RunPage Engine::list(const RunFilter& filter) { return core_->list(filter); }
void Engine::remove(std::string_view run_id) { core_->remove(run_id); }
void Engine::cancel(std::string_view run_id) { core_->cancel(run_id); }
void Engine::signal(std::string_view run_id, std::string_view name, Json payload) {
  core_->signal(run_id, name, std::move(payload));
}
void Engine::retry(std::string_view run_id) { core_->retry(run_id); }
void Engine::start_async(std::string_view workflow, Json input, const StartOptions& options,
                         StartDone done) {
  core_->start_async(workflow, std::move(input), options, std::move(done));
}

std::vector<StartResult> Engine::start_many(std::vector<StartRequest> requests) {
  return core_->start_many(std::move(requests));
}
void Engine::signal_once(std::string_view run_id, std::string_view name, Json payload) {
  core_->signal(run_id, name, std::move(payload), true);
}
std::vector<std::optional<Error>> Engine::signal_many(std::vector<SignalRequest> signals) {
  return core_->signal_many(std::move(signals));
}
size_t Engine::retry_failed(const RunFilter& filter, std::vector<std::string>* unreadable) {
  return core_->retry_failed(filter, unreadable);
}
std::vector<std::string> Engine::cancel_many(const RunFilter& filter) { return core_->cancel_many(filter); }
void Engine::set_priority(std::string_view run_id, int priority) { core_->set_priority(run_id, priority); }
void Engine::rewind(std::string_view run_id, std::string_view step_name) {
  core_->rewind(run_id, step_name);
}
Snapshot Engine::snapshot(std::string_view run_id) { return core_->snapshot(run_id); }
std::vector<ArtifactInfo> Engine::artifacts(std::string_view run_id) { return core_->artifacts(run_id); }
ArtifactBytes Engine::artifact_bytes(std::string_view run_id, std::string_view key, int64_t version) {
  return core_->artifact_bytes(run_id, key, version);
}
std::vector<Event> Engine::events(std::string_view run_id, int64_t after_id, size_t limit) {
  return core_->events(run_id, after_id, limit);
}
Subscription Engine::subscribe(std::string_view run_id, int64_t after_id, EventCallback callback) {
  return Subscription(core_->subscribe(run_id, after_id, std::move(callback)));
}
void Engine::configure_resource(const std::string& name, const ResourceLimits& limits) {
  core_->resources().configure(name, limits);
}
ResourceStatus Engine::resource_status(const std::string& name) {
  detail::check_name("resource name", name);
  return core_->resources().status(name);
}
Json Engine::llm_providers() { return core_->llm().describe(); }

const EngineOptions& Engine::options() const { return core_->options(); }

void Engine::set_lifecycle_callback(LifecycleCallback callback) {
  core_->lifecycle().set(std::move(callback));
}

}  // namespace storyloom
