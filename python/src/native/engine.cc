// Engine: one sl_engine (open, launch, close; workflows, runs, signals,
// resources, webhooks, snapshots, artifacts and book export, events) and the
// lifecycle callback that feeds the package's telemetry.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "execution.h"
#include "native.h"
#include "outcomes.h"
#include "subscription.h"

namespace storyloom_native {
namespace {

// The lifecycle callback's user_data: the package's span mapper
// (storyloom/_telemetry.py), called with each report's JSON on the engine's
// reporter thread, which holds no engine lock, so taking the GIL there is safe.
struct LifecycleHandler {
  py::object fn;
};

void on_lifecycle(void* user_data, const char* json, size_t len) {
  // Taking the GIL while the interpreter exits would end this thread (ReleasedGil).
  if (!Py_IsInitialized() || interpreter_exiting()) return;
  auto* handler = static_cast<LifecycleHandler*>(user_data);
  py::gil_scoped_acquire gil;
  // Our own reference: the mapper may let go of the last reference to the engine
  // (which closes it and frees `handler`) before it returns.
  py::object fn = handler->fn;
  try {
    fn(py::str(json, len));
  } catch (py::error_already_set& err) {
    err.discard_as_unraisable(fn);  // telemetry never breaks the engine
  }
}

}  // namespace

// Calls may come from several Python threads while another closes the engine: close
// waits for the calls in flight, and calls that start once it began fail with Closed.
class Engine {
 public:
  Engine(const std::string& store, int workers, int max_executions, size_t max_payload_bytes,
         int64_t poll_interval_ms, int64_t lease_ttl_ms, int64_t drain_timeout_ms,
         const std::optional<std::string>& config_json, int durability) {
    sl_engine_options o = SL_ENGINE_OPTIONS_INIT;
    o.durability = durability;  // SL_DURABILITY_*, 0: the default (full)
    std::tie(o.config_json, o.config_json_len) = view(config_json);
    o.store = store.data();
    o.store_len = store.size();
    o.workers = workers;
    o.max_executions = max_executions;
    o.max_payload_bytes = max_payload_bytes;
    o.poll_interval_ms = poll_interval_ms;
    o.lease_ttl_ms = lease_ttl_ms;
    o.drain_timeout_ms = drain_timeout_ms;
    sl_engine* e = nullptr;
    call([&] { return sl_engine_open(&e, &o); });
    engine_ = e;
  }

  ~Engine() { close(); }

  bool closed() {
    std::lock_guard lock(mutex_);
    return engine_ == nullptr || closing_;
  }

  // With the GIL held. Not from an execute callback (sl_engine_close fails there).
  void close() {
    {
      ReleasedGil released;
      std::unique_lock lock(mutex_);
      if (engine_ == nullptr || closing_) return;
      closing_ = true;
      idle_.wait(lock, [this] { return in_flight_ == 0; });
      sl_engine* e = std::exchange(engine_, nullptr);
      lock.unlock();
      sl_engine_close(e);
    }
    // An execute callback left running by close may still read its
    // Registration: let go of the handlers, never of the Registrations.
    for (auto& reg : registrations_) {
      reg->handler = py::none();
      (void)reg.release();
    }
    registrations_.clear();
  }

  // retry: (max_attempts, initial_backoff_ms, multiplier, max_backoff_ms, jitter) or None.
  using Retry = std::tuple<int, int64_t, double, int64_t, bool>;
  // limits: (step_timeout_ms, max_running, concurrency_key, concurrency_limit, throttle_key,
  // throttle_limit, throttle_period_ms, run_timeout_ms) or None; zeros and "" are unset.
  using Limits = std::tuple<int64_t, int, std::string, int, std::string, int, int64_t, int64_t>;

  void register_workflow(const std::string& name, py::object handler,
                         const std::optional<Retry>& retry, const std::optional<Limits>& limits) {
    auto reg = std::make_unique<Registration>();
    reg->handler = std::move(handler);
    Registration* r = reg.get();
    sl_workflow_options o = SL_WORKFLOW_OPTIONS_INIT;
    if (retry) {
      bool jitter = true;
      std::tie(o.max_attempts, o.initial_backoff_ms, o.multiplier, o.max_backoff_ms, jitter) =
          *retry;
      o.no_jitter = jitter ? 0 : 1;
    }
    if (limits) {
      const std::string& concurrency_key = std::get<2>(*limits);
      const std::string& throttle_key = std::get<4>(*limits);
      o.step_timeout_ms = std::get<0>(*limits);
      o.max_running = std::get<1>(*limits);
      o.concurrency_key = concurrency_key.data();
      o.concurrency_key_len = concurrency_key.size();
      o.concurrency_limit = std::get<3>(*limits);
      o.throttle_key = throttle_key.data();
      o.throttle_key_len = throttle_key.size();
      o.throttle_limit = std::get<5>(*limits);
      o.throttle_period_ms = std::get<6>(*limits);
      o.run_timeout_ms = std::get<7>(*limits);
    }
    bool defaults = !retry && !limits;
    use([&](sl_engine* e) {
      return sl_engine_register_workflow(e, name.data(), name.size(), defaults ? nullptr : &o,
                                         &execute, r);
    });
    registrations_.push_back(std::move(reg));
  }

  // Lifecycle reports (JSON text) to `fn` on the engine's reporter thread. Once per engine:
  // the handler must outlive every call of it, which only close() guarantees.
  void set_lifecycle(py::object fn) {
    if (lifecycle_) throw std::invalid_argument("set_lifecycle: already set");
    auto handler = std::make_unique<LifecycleHandler>();
    handler->fn = std::move(fn);
    use([&](sl_engine* e) { return sl_engine_set_lifecycle(e, &on_lifecycle, handler.get()); });
    lifecycle_ = std::move(handler);
  }

  // Begins executing runs (sl_engine_launch): call once the workflows are registered.
  void launch() {
    use([&](sl_engine* e) { return sl_engine_launch(e); });
  }

  // The options of start() and start_begin(); the views point into the arguments.
  static sl_start_options start_options(const std::optional<std::string>& idempotency_key,
                                        const std::optional<std::string>& owner, int priority,
                                        int64_t budget_llm_calls, int64_t budget_llm_tokens,
                                        const std::optional<std::string>& trace_parent) {
    sl_start_options o = SL_START_OPTIONS_INIT;
    std::tie(o.trace_parent, o.trace_parent_len) = view(trace_parent);
    o.budget_llm_calls = budget_llm_calls;
    o.budget_llm_tokens = budget_llm_tokens;
    std::tie(o.idempotency_key, o.idempotency_key_len) = view(idempotency_key);
    std::tie(o.owner, o.owner_len) = view(owner);
    o.priority = priority;
    return o;
  }

  std::string start(const std::string& workflow, const std::string& input_json,
                    const std::optional<std::string>& idempotency_key,
                    const std::optional<std::string>& owner, int priority,
                    int64_t budget_llm_calls, int64_t budget_llm_tokens,
                    const std::optional<std::string>& trace_parent) {
    sl_start_options o = start_options(idempotency_key, owner, priority, budget_llm_calls,
                                       budget_llm_tokens, trace_parent);
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_start(&out, &len, e, workflow.data(), workflow.size(), input_json.data(),
                             input_json.size(), &o);
    });
    return take(out, len);
  }

  // start() without waiting for the commit (sl_engine_start_async): arguments are checked
  // at once (raising); the outcome (run JSON as the result) goes to `inbox` under `token`.
  void start_begin(const std::string& workflow, const std::string& input_json,
                   const std::optional<std::string>& idempotency_key,
                   const std::optional<std::string>& owner, int priority,
                   int64_t budget_llm_calls, int64_t budget_llm_tokens,
                   const std::optional<std::string>& trace_parent,
                   std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_start_options o = start_options(idempotency_key, owner, priority, budget_llm_calls,
                                       budget_llm_tokens, trace_parent);
    auto pending = std::make_shared<Pending>();
    pending->inbox = std::move(inbox);
    pending->token = token;
    pending->returned = true;  // the outcome always comes later, from the writer thread
    // With the GIL held: sl_engine_start_async only checks and queues, never waits, and a
    // GIL hand-off per start would make the caller's event loop wait for a worker thread.
    use_holding_gil([&](sl_engine* e) {
      auto* box = new Pending::Box(pending);
      int rc = sl_engine_start_async(e, workflow.data(), workflow.size(), input_json.data(),
                                     input_json.size(), &o, &Pending::on_start, box);
      if (rc != SL_OK) delete box;  // fn is never called after an error
      return rc;
    });
  }

  // JSON array of start requests -> JSON array of {"run"} / {"error"}, one per request.
  std::string start_many(const std::string& requests_json) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_start_many(&out, &len, e, requests_json.data(), requests_json.size());
    });
    return take(out, len);
  }

  // JSON array of signals -> JSON array of {"ok"} / {"error"}, one per signal.
  std::string signal_many(const std::string& signals_json) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_signal_many(&out, &len, e, signals_json.data(), signals_json.size());
    });
    return take(out, len);
  }

  std::string get_run(const std::string& id) { return by_id(sl_engine_get_run, id); }
  std::string snapshot(const std::string& id) { return by_id(sl_engine_snapshot, id); }
  std::string artifacts(const std::string& id) { return by_id(sl_engine_artifacts, id); }
  void export_book(const std::string& id, const std::string& format, const std::string& path) {
    use([&](sl_engine* e) {
      return sl_engine_export_book(e, id.data(), id.size(), format.data(), format.size(),
                                   path.data(), path.size());
    });
  }
  py::bytes artifact_bytes(const std::string& id, const std::string& key, int64_t version) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_artifact_bytes(&out, &len, nullptr, nullptr, e, id.data(), id.size(),
                                      key.data(), key.size(), version);
    });
    std::string bytes = take(out, len);
    return py::bytes(bytes);
  }

  // filter: (status, workflow, owner, error_class or None, finished_after_ms,
  // finished_before_ms); None and 0 do not filter.
  using Filter = std::tuple<std::optional<std::string>, std::optional<std::string>,
                            std::optional<std::string>, std::optional<int>, int64_t, int64_t>;

  std::string list_runs(const Filter& filter, size_t limit,
                        const std::optional<std::string>& after) {
    ListOptions o(filter);
    o.options.limit = limit;
    std::tie(o.options.after, o.options.after_len) = view(after);
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) { return sl_engine_list_runs(&out, &len, e, &o.options); });
    return take(out, len);
  }

  size_t retry_failed(const Filter& filter) {
    ListOptions o(filter);
    size_t count = 0;
    use([&](sl_engine* e) { return sl_engine_retry_failed(&count, e, &o.options); });
    return count;
  }

  std::string cancel_many(const Filter& filter) {
    ListOptions o(filter);
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) { return sl_engine_cancel_many(&out, &len, e, &o.options); });
    return take(out, len);
  }

  void set_priority(const std::string& id, int priority) {
    use([&](sl_engine* e) { return sl_engine_set_priority(e, id.data(), id.size(), priority); });
  }

  void rewind(const std::string& id, const std::string& step) {
    use([&](sl_engine* e) {
      return sl_engine_rewind(e, id.data(), id.size(), step.data(), step.size());
    });
  }

  void configure_resource(const std::string& name, const std::string& limits_json) {
    use([&](sl_engine* e) {
      return sl_engine_configure_resource(e, name.data(), name.size(), limits_json.data(),
                                          limits_json.size());
    });
  }

  std::string resource_status(const std::string& name) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_resource_status(&out, &len, e, name.data(), name.size());
    });
    return take(out, len);
  }

  // Webhooks (docs/webhooks.md).
  void configure_webhooks(const std::string& options_json) {
    use([&](sl_engine* e) {
      return sl_engine_configure_webhooks(e, options_json.data(), options_json.size());
    });
  }

  std::string webhook_log(const std::string& subscription, size_t limit) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_webhook_log(&out, &len, e, subscription.data(), subscription.size(), limit);
    });
    return take(out, len);
  }

  std::string receive_webhook(const std::string& hook_json, const std::string& headers_json,
                              const std::string& body) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_receive_webhook(&out, &len, e, hook_json.data(), hook_json.size(),
                                       headers_json.data(), headers_json.size(), body.data(),
                                       body.size());
    });
    return take(out, len);
  }

  std::string llm_providers() {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) { return sl_engine_llm_providers(&out, &len, e); });
    return take(out, len);
  }

  void delete_run(const std::string& id) { act(sl_engine_delete_run, id); }
  void cancel(const std::string& id) { act(sl_engine_cancel, id); }
  void retry(const std::string& id) { act(sl_engine_retry, id); }

  void signal(const std::string& id, const std::string& name, const std::string& payload_json) {
    use([&](sl_engine* e) {
      return sl_engine_signal(e, id.data(), id.size(), name.data(), name.size(),
                              payload_json.data(), payload_json.size());
    });
  }

  std::string events(const std::string& id, int64_t after_id, size_t limit) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) {
      return sl_engine_events(&out, &len, e, id.data(), id.size(), after_id, limit);
    });
    return take(out, len);
  }

  std::unique_ptr<Subscription> subscribe(const std::string& id, int64_t after_id) {
    auto sub = std::make_unique<Subscription>();
    sl_engine* e = enter();
    Leave leave{this};
    sub->open(e, id, after_id);
    return sub;
  }

 private:
  // sl_list_options over a Filter; the strings stay owned by the Filter.
  struct ListOptions {
    sl_list_options options = SL_LIST_OPTIONS_INIT;
    explicit ListOptions(const Filter& f) {
      std::tie(options.status, options.status_len) = view(std::get<0>(f));
      std::tie(options.workflow, options.workflow_len) = view(std::get<1>(f));
      std::tie(options.owner, options.owner_len) = view(std::get<2>(f));
      if (std::get<3>(f)) {
        options.by_error_class = 1;
        options.error_class = *std::get<3>(f);
      }
      options.finished_after_ms = std::get<4>(f);
      options.finished_before_ms = std::get<5>(f);
    }
  };

  struct Leave {
    Engine* self;
    ~Leave() { self->leave(); }
  };

  // With the GIL held: counts a call in flight, or raises Closed.
  sl_engine* enter() {
    {
      std::lock_guard lock(mutex_);
      if (engine_ != nullptr && !closing_) {
        ++in_flight_;
        return engine_;
      }
    }
    // Same code and wording as a closed engine in the C ABI.
    py::object exc = error_factory()(static_cast<int>(SL_ECLOSED), static_cast<int>(SL_CLASS_FATAL),
                                     "the engine is closed");
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw py::error_already_set();
  }

  void leave() {
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
    }
    idle_.notify_all();
  }

  // Runs fn(engine) with the GIL released as a call in flight; raises its error.
  template <typename F>
  void use(F&& fn) {
    sl_engine* e = enter();
    Leave leave{this};
    call([&] { return fn(e); });
  }

  // use() for a call that never waits for the engine: the GIL stays held.
  template <typename F>
  void use_holding_gil(F&& fn) {
    sl_engine* e = enter();
    Leave leave{this};
    check(fn(e));
  }

  std::string by_id(int (*fn)(char**, size_t*, sl_engine*, const char*, size_t),
                    const std::string& id) {
    char* out = nullptr;
    size_t len = 0;
    use([&](sl_engine* e) { return fn(&out, &len, e, id.data(), id.size()); });
    return take(out, len);
  }

  void act(int (*fn)(sl_engine*, const char*, size_t), const std::string& id) {
    use([&](sl_engine* e) { return fn(e, id.data(), id.size()); });
  }

  std::mutex mutex_;
  std::condition_variable idle_;
  int in_flight_ = 0;
  bool closing_ = false;
  sl_engine* engine_ = nullptr;
  std::vector<std::unique_ptr<Registration>> registrations_;
  std::unique_ptr<LifecycleHandler> lifecycle_;  // user_data of sl_engine_set_lifecycle
};

void bind_engine(py::module_& m) {
  py::class_<Engine>(m, "Engine")
      .def(py::init<const std::string&, int, int, size_t, int64_t, int64_t, int64_t,
                    const std::optional<std::string>&, int>(),
           py::arg("store"), py::arg("workers"), py::arg("max_executions"),
           py::arg("max_payload_bytes"), py::arg("poll_interval_ms"), py::arg("lease_ttl_ms"),
           py::arg("drain_timeout_ms"), py::arg("config_json") = py::none(),
           py::arg("durability") = 0)
      .def_property_readonly("closed", &Engine::closed)
      .def("close", &Engine::close)
      .def("launch", &Engine::launch)
      .def("register_workflow", &Engine::register_workflow, py::arg("name"), py::arg("handler"),
           py::arg("retry") = py::none(), py::arg("limits") = py::none())
      .def("start", &Engine::start, py::arg("workflow"), py::arg("input_json"),
           py::arg("idempotency_key"), py::arg("owner"), py::arg("priority"),
           py::arg("budget_llm_calls"), py::arg("budget_llm_tokens"),
           py::arg("trace_parent") = std::nullopt)
      .def("set_lifecycle", &Engine::set_lifecycle)
      .def("start_many", &Engine::start_many)
      .def("start_begin", &Engine::start_begin)
      .def("signal_many", &Engine::signal_many)
      .def("get_run", &Engine::get_run)
      .def("list_runs", &Engine::list_runs)
      .def("delete_run", &Engine::delete_run)
      .def("cancel", &Engine::cancel)
      .def("retry", &Engine::retry)
      .def("retry_failed", &Engine::retry_failed)
      .def("cancel_many", &Engine::cancel_many)
      .def("set_priority", &Engine::set_priority)
      .def("rewind", &Engine::rewind)
      .def("configure_resource", &Engine::configure_resource)
      .def("resource_status", &Engine::resource_status)
      .def("llm_providers", &Engine::llm_providers)
      .def("configure_webhooks", &Engine::configure_webhooks)
      .def("webhook_log", &Engine::webhook_log)
      .def("receive_webhook", &Engine::receive_webhook)
      .def("signal", &Engine::signal)
      .def("snapshot", &Engine::snapshot)
      .def("artifacts", &Engine::artifacts)
      .def("artifact_bytes", &Engine::artifact_bytes)
      .def("export_book", &Engine::export_book)
      .def("events", &Engine::events)
      .def("subscribe", &Engine::subscribe);
}

}  // namespace storyloom_native
