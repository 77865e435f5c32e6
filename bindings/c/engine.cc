// sl_engine_*: the engine's operations, one to one onto storyloom::Engine.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "args.h"
#include "handles.h"
#include "placeholder_picture.h"
#include "storyloom/config.h"
#include "status.h"
#include "to_json.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using storyloom::capi::OutText;
using namespace storyloom;

namespace {

// C has no duration type: zero picks the engine's default, negatives are refused.
std::chrono::milliseconds duration_or(const Args& args, int64_t ms, const char* name,
                                      std::chrono::milliseconds fallback) {
  if (ms < 0) {
    args.invalid(std::string("sl_engine_options.") + name + " is " + std::to_string(ms) +
                 "; it must not be negative");
  }
  return ms == 0 ? fallback : std::chrono::milliseconds(ms);
}

StartOptions start_options(const Args& args, const sl_start_options* options) {
  StartOptions start;
  if (auto* o = args.options(options, SL_START_OPTIONS_VERSION, "sl_start_options")) {
    start.idempotency_key = args.text(o->idempotency_key, o->idempotency_key_len,
                                      "sl_start_options.idempotency_key");
    start.owner = args.text(o->owner, o->owner_len, "sl_start_options.owner");
    start.priority = o->priority;
    if (o->version >= 2) {
      start.budget.llm_calls = o->budget_llm_calls;
      start.budget.llm_tokens = o->budget_llm_tokens;
    }
    if (o->version >= 3) {
      start.trace_parent = args.text(o->trace_parent, o->trace_parent_len,
                                     "sl_start_options.trace_parent");
    }
  }
  return start;
}

EngineOptions engine_options(const Args& args, const sl_engine_options* o) {
  EngineOptions options;
  // The offline image provider draws the book library's placeholder picture.
  options.images.offline_drawer = [](std::string_view prompt, int width, int height) {
    return book::placeholder_png(prompt, width, height);
  };
  if (o == nullptr) return options;  // the version was checked by the caller
  auto store = args.text(o->store, o->store_len, "sl_engine_options.store");
  if (!store.empty()) options.store = std::string(store);
  if (o->workers != 0) options.workers = o->workers;
  if (o->max_executions != 0) options.max_executions = o->max_executions;
  if (o->max_payload_bytes != 0) options.max_payload_bytes = o->max_payload_bytes;
  options.poll_interval = duration_or(args, o->poll_interval_ms, "poll_interval_ms",
                                      options.poll_interval);
  options.lease_ttl = duration_or(args, o->lease_ttl_ms, "lease_ttl_ms", options.lease_ttl);
  options.drain_timeout = duration_or(args, o->drain_timeout_ms, "drain_timeout_ms",
                                      options.drain_timeout);
  if (o->version >= 2 && (o->config_json != nullptr || o->config_json_len != 0)) {
    apply_engine_config(options,
                        args.json(o->config_json, o->config_json_len, "sl_engine_options.config_json"));
  }
  if (o->version >= 3 && o->durability != 0) {
    if (o->durability == SL_DURABILITY_FULL) {
      options.durability = Durability::full;
    } else if (o->durability == SL_DURABILITY_NORMAL) {
      options.durability = Durability::normal;
    } else {
      args.invalid("sl_engine_options.durability is " + std::to_string(o->durability) +
                   "; use SL_DURABILITY_FULL or SL_DURABILITY_NORMAL");
    }
  }
  return options;
}

// Version 2 fields of sl_workflow_options: timeouts and limits.
void read_limits(const Args& args, const sl_workflow_options& o, WorkflowOptions& wf) {
  wf.max_running = o.max_running;
  auto key = args.text(o.concurrency_key, o.concurrency_key_len, "sl_workflow_options.concurrency_key");
  if (!key.empty() || o.concurrency_limit != 0) {
    wf.concurrency = ConcurrencyKey{std::string(key), o.concurrency_limit};
  }
  auto throttle = args.text(o.throttle_key, o.throttle_key_len, "sl_workflow_options.throttle_key");
  if (o.throttle_limit != 0 || o.throttle_period_ms != 0) {
    wf.throttle = Throttle{std::string(throttle), o.throttle_limit,
                           std::chrono::milliseconds(o.throttle_period_ms)};
  } else if (!throttle.empty()) {
    args.invalid("sl_workflow_options.throttle_key is set but throttle_limit is 0");
  }
  wf.run_timeout = std::chrono::milliseconds(o.run_timeout_ms);
}

// A NULL filter matches every run; limit and cursor do not apply.
RunFilter run_filter(const Args& args, const sl_list_options* options) {
  RunFilter filter;
  if (auto* o = args.options(options, SL_LIST_OPTIONS_VERSION, "sl_list_options")) {
    auto status = args.text(o->status, o->status_len, "sl_list_options.status");
    if (!status.empty()) filter.status = parse_run_status(status);
    filter.workflow = args.text(o->workflow, o->workflow_len, "sl_list_options.workflow");
    filter.owner = args.text(o->owner, o->owner_len, "sl_list_options.owner");
    if (o->limit != 0) filter.limit = o->limit;
    filter.after_run_id = args.text(o->after, o->after_len, "sl_list_options.after");
    if (o->version >= 2) {
      if (o->by_error_class != 0) {
        filter.error_class = args.error_class(o->error_class, "sl_list_options.error_class");
      }
      filter.finished_after_ms = o->finished_after_ms;
      filter.finished_before_ms = o->finished_before_ms;
    }
  }
  return filter;
}

// Calls `each` for every element of `json` (the argument `name`), which
// must be an array of objects; `where` names the element in errors.
void for_each_object(const Args& args, const Json& json, const std::string& name,
                     const std::function<void(const std::string& where,
                                              const boost::json::object& item)>& each) {
  if (!json.is_array()) args.invalid(name + " must be a JSON array");
  for (size_t i = 0; i < json.as_array().size(); ++i) {
    std::string where = name + "[" + std::to_string(i) + "]";
    const auto* o = json.as_array()[i].if_object();
    if (!o) args.invalid(where + " must be an object");
    each(where, *o);
  }
}

// The string member `key` of `item`; "" when absent or null unless `required`.
std::string string_member(const Args& args, const boost::json::object& item,
                          const std::string& where, const char* key, bool required) {
  const auto* v = item.if_contains(key);
  if (!required && (!v || v->is_null())) return {};
  if (!v || !v->is_string()) args.invalid(where + "." + key + " must be a string");
  return std::string(v->as_string());
}

// The host owns each execution from the call on; a finish call deletes it.
ExecuteFn execute_through(sl_execute_fn fn, void* user_data) {
  return [fn, user_data](Execution execution) {
    fn(user_data, new sl_execution(std::move(execution)));
  };
}

}  // namespace

extern "C" {

SL_API int sl_engine_open(sl_engine** out, const sl_engine_options* options) {
  Args args(__func__);
  return guarded([&] {
    auto& result = args.out(out, "out");
    auto* o = args.options(options, SL_ENGINE_OPTIONS_VERSION, "sl_engine_options");
    auto handle = std::make_unique<sl_engine>();
    handle->engine = Engine::open(engine_options(args, o));
    result = handle.release();
  });
}

SL_API int sl_engine_launch(sl_engine* engine) {
  Args args(__func__);
  return guarded([&] { args.required(engine, "engine").engine->launch(); });
}

SL_API void sl_engine_close(sl_engine* engine) {
  if (engine == nullptr) return;
  int status = guarded([&] { engine->engine->close(); });
  // Close fails only when it cannot join the engine's threads (called from one
  // of them, against the contract); destroying joinable threads would abort
  // the host at once, so the handle is left alive and the last error says why.
  if (status == SL_OK) delete engine;
}

SL_API void sl_engine_close_now(sl_engine* engine) {
  if (engine == nullptr) return;
  int status = guarded([&] { engine->engine->close_now(); });
  if (status == SL_OK) delete engine;  // as sl_engine_close
}

SL_API int sl_engine_register_workflow(sl_engine* engine, const char* name, size_t name_len,
                                       const sl_workflow_options* options, sl_execute_fn fn,
                                       void* user_data) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    auto workflow = args.text(name, name_len, "name");
    WorkflowOptions wf;
    if (auto* o = args.options(options, SL_WORKFLOW_OPTIONS_VERSION, "sl_workflow_options")) {
      RetryPolicy policy;
      policy.max_attempts = o->max_attempts;
      policy.initial_backoff = std::chrono::milliseconds(o->initial_backoff_ms);
      policy.multiplier = o->multiplier;
      policy.max_backoff = std::chrono::milliseconds(o->max_backoff_ms);
      policy.jitter = o->no_jitter == 0;
      if (o->version >= 2) policy.timeout = std::chrono::milliseconds(o->step_timeout_ms);
      // Unset: version 3 says so with max_attempts 0; older structs by holding
      // their INIT values (they had no way to say it).
      // A backoff field changed from its INIT value sets the policy too.
      bool unset = policy.timeout.count() == 0 &&
                   o->max_attempts == (o->version >= 3 ? 0 : 1) && o->initial_backoff_ms == 1000 &&
                   o->multiplier == 2.0 && o->max_backoff_ms == 60000 && o->no_jitter == 0;
      if (o->version >= 3 && o->max_attempts == 0 && !unset) policy.max_attempts = 1;
      if (!unset) wf.retry = policy;
      if (o->version >= 2) read_limits(args, *o, wf);
    }
    if (fn == nullptr) args.invalid("fn is NULL");
    e.engine->register_workflow(workflow, execute_through(fn, user_data), wf);
  });
}

SL_API int sl_engine_start(char** run_json, size_t* run_json_len, sl_engine* engine,
                           const char* workflow, size_t workflow_len, const char* input_json,
                           size_t input_len, const sl_start_options* options) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, run_json, run_json_len, "run_json");
    auto& e = args.required(engine, "engine");
    auto name = args.text(workflow, workflow_len, "workflow");
    StartOptions start = start_options(args, options);
    auto input = args.json(input_json, input_len, "input_json");
    out.set_json(to_json(e.engine->start(name, std::move(input), start)));
  });
}

SL_API int sl_engine_start_async(sl_engine* engine, const char* workflow, size_t workflow_len,
                                 const char* input_json, size_t input_len,
                                 const sl_start_options* options, sl_start_fn fn,
                                 void* user_data) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    if (fn == nullptr) args.invalid("fn is NULL");
    auto name = args.text(workflow, workflow_len, "workflow");
    StartOptions start = start_options(args, options);
    auto input = args.json(input_json, input_len, "input_json");
    e.engine->start_async(name, std::move(input), start, [fn, user_data](StartResult result) {
      if (result.run) {
        std::string run = storyloom::to_json_text(to_json(*result.run));
        fn(user_data, SL_OK, run.data(), run.size(), "", 0);
      } else {
        std::string message = result.error->what();
        fn(user_data, static_cast<int>(result.error->code()), "", 0, message.data(),
           message.size());
      }
    });
  });
}

SL_API int sl_engine_start_many(char** results_json, size_t* results_len, sl_engine* engine,
                                const char* requests_json, size_t requests_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, results_json, results_len, "results_json");
    auto& e = args.required(engine, "engine");
    Json requests = args.json(requests_json, requests_len, "requests_json");
    std::vector<StartRequest> batch;
    for_each_object(args, requests, "requests_json", [&](const std::string& where,
                                                         const boost::json::object& o) {
      StartRequest r;
      r.workflow = string_member(args, o, where, "workflow", false);
      r.options.idempotency_key = string_member(args, o, where, "idempotency_key", false);
      r.options.owner = string_member(args, o, where, "owner", false);
      r.options.trace_parent = string_member(args, o, where, "trace_parent", false);
      if (const auto* input = o.if_contains("input")) r.input = *input;
      if (const auto* priority = o.if_contains("priority"); priority && !priority->is_null()) {
        if (!priority->is_int64() || priority->as_int64() < INT32_MIN ||
            priority->as_int64() > INT32_MAX) {
          args.invalid(where + ".priority must be a 32-bit integer");
        }
        r.options.priority = static_cast<int>(priority->as_int64());
      }
      if (const auto* budget = o.if_contains("budget"); budget && !budget->is_null()) {
        try {
          r.options.budget = budget_from_json(*budget, where + ".budget");
        } catch (const Error& bad) {
          args.invalid(bad.what());
        }
      }
      batch.push_back(std::move(r));
    });
    boost::json::array results;
    for (auto& result : e.engine->start_many(std::move(batch))) {
      if (result.run) {
        results.push_back(boost::json::object{{"run", to_json(*result.run)}});
      } else {
        results.push_back(boost::json::object{{"error", capi::error_json(*result.error)}});
      }
    }
    out.set_json(results);
  });
}

SL_API int sl_engine_signal_many(char** results_json, size_t* results_len, sl_engine* engine,
                                 const char* signals_json, size_t signals_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, results_json, results_len, "results_json");
    auto& e = args.required(engine, "engine");
    Json signals = args.json(signals_json, signals_len, "signals_json");
    std::vector<SignalRequest> batch;
    for_each_object(args, signals, "signals_json", [&](const std::string& where,
                                                       const boost::json::object& o) {
      SignalRequest signal;
      signal.run_id = string_member(args, o, where, "run_id", true);
      signal.name = string_member(args, o, where, "name", true);
      if (const auto* payload = o.if_contains("payload")) signal.payload = *payload;
      if (const auto* once = o.if_contains("once"); once && !once->is_null()) {
        if (!once->is_bool()) args.invalid(where + ".once must be true or false");
        signal.once = once->as_bool();
      }
      batch.push_back(std::move(signal));
    });
    boost::json::array results;
    for (auto& error : e.engine->signal_many(std::move(batch))) {
      if (error) {
        results.push_back(boost::json::object{{"error", capi::error_json(*error)}});
      } else {
        results.push_back(boost::json::object{{"ok", true}});
      }
    }
    out.set_json(results);
  });
}

SL_API int sl_engine_get_run(char** run_json, size_t* run_json_len, sl_engine* engine,
                             const char* run_id, size_t run_id_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, run_json, run_json_len, "run_json");
    auto& e = args.required(engine, "engine");
    out.set_json(to_json(e.engine->get(args.text(run_id, run_id_len, "run_id"))));
  });
}

SL_API int sl_engine_list_runs(char** page_json, size_t* page_json_len, sl_engine* engine,
                               const sl_list_options* options) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, page_json, page_json_len, "page_json");
    auto& e = args.required(engine, "engine");
    out.set_json(to_json(e.engine->list(run_filter(args, options))));
  });
}

SL_API int sl_engine_delete_run(sl_engine* engine, const char* run_id, size_t run_id_len) {
  Args args(__func__);
  return guarded([&] {
    args.required(engine, "engine").engine->remove(args.text(run_id, run_id_len, "run_id"));
  });
}

SL_API int sl_engine_cancel(sl_engine* engine, const char* run_id, size_t run_id_len) {
  Args args(__func__);
  return guarded([&] {
    args.required(engine, "engine").engine->cancel(args.text(run_id, run_id_len, "run_id"));
  });
}

SL_API int sl_engine_signal(sl_engine* engine, const char* run_id, size_t run_id_len,
                            const char* name, size_t name_len, const char* payload_json,
                            size_t payload_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    auto run = args.text(run_id, run_id_len, "run_id");
    auto signal = args.text(name, name_len, "name");
    e.engine->signal(run, signal, args.json(payload_json, payload_len, "payload_json"));
  });
}

SL_API int sl_engine_retry(sl_engine* engine, const char* run_id, size_t run_id_len) {
  Args args(__func__);
  return guarded([&] {
    args.required(engine, "engine").engine->retry(args.text(run_id, run_id_len, "run_id"));
  });
}

SL_API int sl_engine_retry_failed(size_t* count, sl_engine* engine, const sl_list_options* filter) {
  Args args(__func__);
  return guarded([&] {
    auto& result = args.out(count, "count");
    auto& e = args.required(engine, "engine");
    result = e.engine->retry_failed(run_filter(args, filter));
  });
}

SL_API int sl_engine_cancel_many(char** ids_json, size_t* ids_json_len, sl_engine* engine,
                                 const sl_list_options* filter) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, ids_json, ids_json_len, "ids_json");
    auto& e = args.required(engine, "engine");
    boost::json::array ids;
    for (auto& id : e.engine->cancel_many(run_filter(args, filter))) ids.emplace_back(id);
    out.set_json(ids);
  });
}

SL_API int sl_engine_set_priority(sl_engine* engine, const char* run_id, size_t run_id_len,
                                  int priority) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    e.engine->set_priority(args.text(run_id, run_id_len, "run_id"), priority);
  });
}

SL_API int sl_engine_rewind(sl_engine* engine, const char* run_id, size_t run_id_len,
                            const char* step, size_t step_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    auto run = args.text(run_id, run_id_len, "run_id");
    e.engine->rewind(run, args.text(step, step_len, "step"));
  });
}

SL_API int sl_engine_configure_resource(sl_engine* engine, const char* name, size_t name_len,
                                        const char* limits_json, size_t limits_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    std::string resource(args.text(name, name_len, "name"));
    e.engine->configure_resource(
        resource, resource_limits_from_json(args.json(limits_json, limits_len, "limits_json"),
                                            "limits of resource '" + resource + "'"));
  });
}

SL_API int sl_engine_resource_status(char** status_json, size_t* status_json_len,
                                     sl_engine* engine, const char* name, size_t name_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, status_json, status_json_len, "status_json");
    auto& e = args.required(engine, "engine");
    out.set_json(to_json(e.engine->resource_status(std::string(args.text(name, name_len, "name")))));
  });
}

SL_API int sl_engine_set_lifecycle(sl_engine* engine, sl_lifecycle_fn fn, void* user_data) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(engine, "engine");
    if (fn == nullptr) return e.engine->set_lifecycle_callback(nullptr);
    e.engine->set_lifecycle_callback([fn, user_data](const LifecycleEvent& event) {
      std::string text = to_json_text(to_json(event));
      fn(user_data, text.data(), text.size());
    });
  });
}

SL_API int sl_engine_llm_providers(char** providers_json, size_t* providers_json_len,
                                   sl_engine* engine) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, providers_json, providers_json_len, "providers_json");
    out.set_json(args.required(engine, "engine").engine->llm_providers());
  });
}

SL_API int sl_engine_snapshot(char** snapshot_json, size_t* snapshot_json_len, sl_engine* engine,
                              const char* run_id, size_t run_id_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, snapshot_json, snapshot_json_len, "snapshot_json");
    auto& e = args.required(engine, "engine");
    out.set_json(to_json(e.engine->snapshot(args.text(run_id, run_id_len, "run_id"))));
  });
}

SL_API int sl_engine_artifacts(char** artifacts_json, size_t* artifacts_json_len,
                               sl_engine* engine, const char* run_id, size_t run_id_len) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, artifacts_json, artifacts_json_len, "artifacts_json");
    auto& e = args.required(engine, "engine");
    out.set_json(
        capi::artifacts_json(e.engine->artifacts(args.text(run_id, run_id_len, "run_id"))));
  });
}

SL_API int sl_engine_events(char** events_json, size_t* events_json_len, sl_engine* engine,
                            const char* run_id, size_t run_id_len, int64_t after_id,
                            size_t limit) {
  Args args(__func__);
  return guarded([&] {
    OutText out(args, events_json, events_json_len, "events_json");
    auto& e = args.required(engine, "engine");
    auto run = args.text(run_id, run_id_len, "run_id");
    // Zero takes the engine's default page size.
    auto events =
        limit == 0 ? e.engine->events(run, after_id) : e.engine->events(run, after_id, limit);
    out.set_json(capi::events_json(events));
  });
}

}  // extern "C"
