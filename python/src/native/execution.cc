// Execution: a workflow's context over sl_execution (steps, the built-in llm,
// http and image steps, resources, sleeps, signals, child runs, progress,
// artifacts, events, and finishing the execution), and the execute callback
// that hands one to the workflow's Python handler.
#include "execution.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "outcomes.h"

namespace storyloom_native {

class Execution {
 public:
  explicit Execution(sl_execution* e) : e_(e) {}

  bool finished() const { return e_ == nullptr; }

  std::string run_id() const { return lend(sl_execution_run_id); }
  std::string workflow() const { return lend(sl_execution_workflow); }
  std::string input() const { return lend(sl_execution_input); }

  bool cancelled() const {
    int out = 0;
    check(sl_execution_cancelled(&out, live()));
    return out != 0;
  }

  // (seq, memoized, result JSON or None)
  // retry_json: the step's own policy (storyloom.h retry_json; "": none).
  std::tuple<int64_t, bool, std::optional<std::string>> step_begin(const std::string& name,
                                                                   const std::string& retry_json) {
    int64_t seq = 0;
    int memoized = 0;
    char* result = nullptr;
    size_t len = 0;
    sl_execution* e = live();
    auto begin = [&] {
      return sl_execution_step_begin_with_retry(&seq, &memoized, &result, &len, e, name.data(),
                                                name.size(), retry_json.data(), retry_json.size());
    };
    if (settled_) {
      // Nothing to wait for: the call only reads and updates the execution's memory, so
      // it runs with the GIL held; handing the GIL to another thread and waiting to get
      // it back would cost more than the call (two thread switches per step).
      check(begin());
    } else {
      // GIL released: step_begin waits for the commit of this run's earlier writes
      // (module.cc says why waiting on the engine with the GIL held deadlocks).
      call(begin);
    }
    return {seq, memoized != 0, take_optional(result, len)};
  }

  // Host step, phase two, for a sync workflow: queues the result, then blocks (GIL
  // released) until it is committed; raises the engine's error when the commit failed
  // or the run was cancelled or taken over meanwhile.
  void step_complete(int64_t seq, const std::string& result_json) {
    sl_execution* e = unsettle();
    uint64_t writes = writes_;
    call([&] {
      int rc = sl_execution_step_complete(e, seq, result_json.data(), result_json.size());
      return rc == SL_OK ? sl_execution_wait_durable(e) : rc;
    });
    settle_if_no_write_since(writes);
  }

  // Host step, phase two, for an async workflow: queues the result; the durability
  // outcome (status, message...) when it is already known, else None and it goes to
  // `inbox` under `token` once the commit ends.
  std::optional<OutcomeTuple> step_complete_begin(int64_t seq, const std::string& result_json,
                                                  std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = unsettle();
    call([&] { return sl_execution_step_complete(e, seq, result_json.data(), result_json.size()); });
    return when_durable_begin(std::move(inbox), token);
  }

  // Blocks (GIL released) until everything this execution wrote so far is committed;
  // raises the engine's error otherwise. For sync workflows.
  void wait_durable() {
    sl_execution* e = live();
    uint64_t writes = writes_;
    call([&] { return sl_execution_wait_durable(e); });
    settle_if_no_write_since(writes);
  }

  // wait_durable() for an async workflow, completed like llm_begin.
  std::optional<OutcomeTuple> when_durable_begin(std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = unsettle();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_when_durable(e, &Pending::on_durable, box);
    });
  }

  // type and trace: the Python exception's class and traceback ("" when unknown).
  void step_fail(int64_t seq, int error_class, const std::string& message, const std::string& type,
                 const std::string& trace) {
    sl_execution* e = unsettle();
    call([&] {
      if (type.empty() && trace.empty()) {
        return sl_execution_step_fail(e, seq, error_class, message.data(), message.size());
      }
      return sl_execution_step_fail_origin(e, seq, error_class, message.data(), message.size(),
                                           type.data(), type.size(), trace.data(), trace.size());
    });
  }

  void heartbeat(int64_t seq) {
    // With the GIL held: the core only moves the step's deadline in memory.
    check(sl_execution_heartbeat(live(), seq));
  }

  // sl_execution_step_fail with class rate-limited and the provider's retry-after.
  void step_rate_limited(int64_t seq, int64_t retry_after_ms, const std::string& message) {
    sl_execution* e = unsettle();
    call([&] {
      return sl_execution_step_rate_limited(e, seq, retry_after_ms, message.data(), message.size());
    });
  }

  // The built-in llm step for a sync workflow: blocks this thread (GIL released) until
  // the outcome comes; cancelling the run or closing the engine ends the wait at once.
  OutcomeTuple llm(const std::string& name, const std::string& request_json,
                   const std::string& retry_json) {
    sl_execution* e = unsettle();
    return wait_for_outcome([&](void* box) {
      return sl_execution_llm_with_retry(e, name.data(), name.size(), request_json.data(),
                                         request_json.size(), retry_json.data(), retry_json.size(),
                                         &Pending::on_llm, box);
    });
  }

  // The built-in http step, for a sync workflow: as llm().
  OutcomeTuple http(const std::string& name, const std::string& request_json,
                    const std::string& retry_json) {
    sl_execution* e = unsettle();
    return wait_for_outcome([&](void* box) {
      return sl_execution_http(e, name.data(), name.size(), request_json.data(),
                               request_json.size(), retry_json.data(), retry_json.size(),
                               &Pending::on_http, box);
    });
  }

  // The built-in http step, for an async workflow: as llm_begin().
  std::optional<OutcomeTuple> http_begin(const std::string& name, const std::string& request_json,
                                         const std::string& retry_json,
                                         std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = unsettle();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_http(e, name.data(), name.size(), request_json.data(),
                               request_json.size(), retry_json.data(), retry_json.size(),
                               &Pending::on_http, box);
    });
  }

  // The built-in image step, for a sync workflow: as llm().
  OutcomeTuple image(const std::string& name, const std::string& request_json,
                     const std::string& retry_json) {
    sl_execution* e = unsettle();
    return wait_for_outcome([&](void* box) {
      return sl_execution_image(e, name.data(), name.size(), request_json.data(),
                                request_json.size(), retry_json.data(), retry_json.size(),
                                &Pending::on_image, box);
    });
  }

  // The built-in image step, for an async workflow: as llm_begin().
  std::optional<OutcomeTuple> image_begin(const std::string& name, const std::string& request_json,
                                          const std::string& retry_json,
                                          std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = unsettle();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_image(e, name.data(), name.size(), request_json.data(),
                                request_json.size(), retry_json.data(), retry_json.size(),
                                &Pending::on_image, box);
    });
  }

  // The built-in llm step for an async workflow: the outcome when it is already known
  // (memoized, or an answer before the call returned), else None and the outcome goes to
  // `inbox` under `token`.
  std::optional<OutcomeTuple> llm_begin(const std::string& name, const std::string& request_json,
                                        std::shared_ptr<Inbox> inbox, uint64_t token,
                                        const std::string& retry_json) {
    sl_execution* e = unsettle();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_llm_with_retry(e, name.data(), name.size(), request_json.data(),
                                         request_json.size(), retry_json.data(), retry_json.size(),
                                         &Pending::on_llm, box);
    });
  }

  // One use of `resource` for the begun host step `seq`, for a sync workflow: blocks
  // this thread (GIL released) until the resource admits it or the run is cancelled.
  OutcomeTuple acquire(int64_t seq, const std::string& resource, double tokens) {
    sl_execution* e = unsettle();
    return wait_for_outcome([&](void* box) {
      return sl_execution_acquire(e, seq, resource.data(), resource.size(), tokens,
                                  &Pending::on_acquired, box);
    });
  }

  // acquire() for an async workflow, completed like llm_begin.
  std::optional<OutcomeTuple> acquire_begin(int64_t seq, const std::string& resource, double tokens,
                                            std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = unsettle();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_acquire(e, seq, resource.data(), resource.size(), tokens,
                                  &Pending::on_acquired, box);
    });
  }

  int sleep(const std::string& name, int64_t duration_ms) {
    int state = -1;
    sl_execution* e = unsettle();
    call([&] { return sl_execution_sleep(&state, e, name.data(), name.size(), duration_ms); });
    return state;
  }

  std::pair<int, std::optional<std::string>> wait_for_signal(const std::string& name,
                                                             int64_t timeout_ms) {
    int state = -1;
    char* payload = nullptr;
    size_t len = 0;
    sl_execution* e = unsettle();
    call([&] {
      return sl_execution_wait_for_signal(&state, &payload, &len, e, name.data(), name.size(),
                                          timeout_ms);
    });
    return {state, take_optional(payload, len)};
  }

  std::pair<int, std::optional<std::string>> invoke(const std::string& name,
                                                    const std::string& workflow,
                                                    const std::string& input_json) {
    int state = -1;
    char* output = nullptr;
    size_t len = 0;
    sl_execution* e = unsettle();
    call([&] {
      return sl_execution_invoke(&state, &output, &len, e, name.data(), name.size(),
                                 workflow.data(), workflow.size(), input_json.data(),
                                 input_json.size());
    });
    return {state, take_optional(output, len)};
  }

  void progress(const std::string& value_json) {
    sl_execution* e = unsettle();
    call([&] { return sl_execution_progress(e, value_json.data(), value_json.size()); });
  }

  void artifact(const std::string& key, const std::string& value_json) {
    sl_execution* e = unsettle();
    call([&] {
      return sl_execution_artifact(e, key.data(), key.size(), value_json.data(), value_json.size());
    });
  }

  void binary_artifact(const std::string& key, const std::string& content_type,
                       const py::bytes& bytes) {
    sl_execution* e = unsettle();
    std::string_view data = bytes;
    call([&] {
      return sl_execution_binary_artifact(e, key.data(), key.size(), content_type.data(),
                                          content_type.size(), data.data(), data.size());
    });
  }

  void emit(const std::string& type, const std::string& data_json) {
    sl_execution* e = unsettle();
    call([&] {
      return sl_execution_emit(e, type.data(), type.size(), data_json.data(), data_json.size());
    });
  }

  void chunk(const std::string& stream, const std::string& text) {
    sl_execution* e = unsettle();
    call([&] {
      return sl_execution_chunk(e, stream.data(), stream.size(), text.data(), text.size());
    });
  }

  // The finish calls free the handle, also when they fail.
  void finish_completed(const std::string& output_json) {
    sl_execution* e = release();
    call([&] { return sl_execution_finish_completed(e, output_json.data(), output_json.size()); });
  }

  void finish_failed(int error_class, const std::string& message, const std::string& type,
                     const std::string& trace) {
    sl_execution* e = release();
    call([&] {
      if (type.empty() && trace.empty()) {
        return sl_execution_finish_failed(e, error_class, message.data(), message.size());
      }
      return sl_execution_finish_failed_origin(e, error_class, message.data(), message.size(),
                                               type.data(), type.size(), trace.data(),
                                               trace.size());
    });
  }

  void finish_parked() {
    sl_execution* e = release();
    call([&] { return sl_execution_finish_parked(e); });
  }

  // Ends the wrapper's use of the handle and returns it, for a finish call the caller
  // makes itself (execute() below, with the GIL released).
  sl_execution* release() {
    sl_execution* e = live();
    e_ = nullptr;
    return e;
  }

 private:
  sl_execution* live() const {
    if (e_ == nullptr) {
      PyErr_SetString(PyExc_RuntimeError, "this execution is already finished");
      throw py::error_already_set();
    }
    return e_;
  }
  // live() for a call after which this execution may have writes not yet committed.
  sl_execution* unsettle() {
    sl_execution* e = live();
    settled_ = false;
    ++writes_;
    return e;
  }
  // After a wait for durability that began when writes_ was `writes`: another thread of
  // the workflow (parallel steps) may have written meanwhile, after the wait began.
  void settle_if_no_write_since(uint64_t writes) {
    if (writes_ == writes) settled_ = true;
  }
  std::string lend(int (*fn)(const char**, size_t*, const sl_execution*)) const {
    const char* out = nullptr;
    size_t len = 0;
    check(fn(&out, &len, live()));
    return std::string(out, len);
  }

  sl_execution* e_;
  // True while everything this execution wrote is known to be committed (at first, and
  // after each wait for durability), so that step_begin has nothing to wait for. Read
  // and written with the GIL held, like e_.
  bool settled_ = true;
  uint64_t writes_ = 0;  // calls that may have written, counted by unsettle()
};

namespace {

// The Python thread state of an engine worker thread, kept from its first execution to
// the end of the thread. Without it, every execution on a thread Python did not start
// would create a thread state and delete it again (pybind11's gil_scoped_acquire does
// so when it made the state), and with it the thread's threading.local values.
class WorkerThreadState {
 public:
  // With the GIL held by `gil`, the first time on this thread.
  void keep(py::gil_scoped_acquire& gil) {
    if (kept_) return;
    gil.inc_ref();  // the state outlives `gil`
    kept_ = true;
  }
  ~WorkerThreadState() {
    // At the end of the thread (the engine closed): delete the state, unless the
    // interpreter is already gone, which took every thread state with it.
    if (!kept_ || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    gil.dec_ref();  // the count keep() added: ~gil then deletes the state
  }

 private:
  bool kept_ = false;
};

thread_local WorkerThreadState worker_thread_state;

}  // namespace

void execute(void* user_data, sl_execution* execution) {
  auto* reg = static_cast<Registration*>(user_data);
  // Taking the GIL while the interpreter exits would end this thread (ReleasedGil).
  if (!Py_IsInitialized() || interpreter_exiting()) {
    static const char kMsg[] = "the Python interpreter is shutting down";
    sl_execution_finish_failed(execution, SL_CLASS_RETRYABLE, kMsg, sizeof kMsg - 1);
    return;
  }
  // Set when the handler returned the workflow's output: the run is finished completed
  // with it below, once the GIL is released (no need to take it back afterwards).
  sl_execution* completed = nullptr;
  std::string output;
  {
    py::gil_scoped_acquire gil;
    worker_thread_state.keep(gil);
    // Our own reference: close() may let go of reg->handler while this call runs.
    py::object handler = reg->handler;
    if (handler.is_none()) {
      static const char kMsg[] = "the engine is closed";
      sl_execution_finish_failed(execution, SL_CLASS_RETRYABLE, kMsg, sizeof kMsg - 1);
      return;
    }
    auto ex = std::make_shared<Execution>(execution);
    py::object kept;
    try {
      // True: the handler handed the execution to the package's asyncio loop, which
      // finishes it later (the C ABI allows finishing from any thread). A str: the
      // output JSON of a workflow that returned.
      kept = handler(ex);
    } catch (py::error_already_set& err) {
      // The handler finishes the execution itself; this is a bug in it.
      std::string message = std::string("storyloom Python handler failed: ") + err.what();
      err.restore();
      PyErr_WriteUnraisable(handler.ptr());
      if (!ex->finished()) {
        try {
          ex->finish_failed(SL_CLASS_FATAL, message, "", "");
        } catch (py::error_already_set&) {
          PyErr_Clear();
        }
      }
      return;
    }
    if (PyUnicode_Check(kept.ptr()) && !ex->finished()) {
      output = kept.cast<std::string>();
      completed = ex->release();
    } else if (!kept.is(py::bool_(true)) && !ex->finished()) {
      try {
        ex->finish_failed(SL_CLASS_FATAL, "the workflow handler returned without finishing", "",
                          "");
      } catch (py::error_already_set&) {
        PyErr_Clear();
      }
    }
  }
  if (completed != nullptr) {
    // Its errors have nobody to go to: the engine has ended the run either way (failed
    // with the error when the output was refused), as the finish call's contract says.
    (void)sl_execution_finish_completed(completed, output.data(), output.size());
  }
}

void bind_execution(py::module_& m) {
  py::class_<Execution, std::shared_ptr<Execution>>(m, "Execution")
      .def_property_readonly("finished", &Execution::finished)
      .def("run_id", &Execution::run_id)
      .def("workflow", &Execution::workflow)
      .def("input", &Execution::input)
      .def("cancelled", &Execution::cancelled)
      .def("step_begin", &Execution::step_begin, py::arg("name"), py::arg("retry_json") = "")
      .def("step_complete", &Execution::step_complete)
      .def("step_complete_begin", &Execution::step_complete_begin)
      .def("wait_durable", &Execution::wait_durable)
      .def("when_durable_begin", &Execution::when_durable_begin)
      .def("step_fail", &Execution::step_fail, py::arg("seq"), py::arg("error_class"),
           py::arg("message"), py::arg("type") = "", py::arg("trace") = "")
      .def("heartbeat", &Execution::heartbeat)
      .def("llm", &Execution::llm, py::arg("name"), py::arg("request_json"),
           py::arg("retry_json") = "")
      .def("llm_begin", &Execution::llm_begin, py::arg("name"), py::arg("request_json"),
           py::arg("inbox"), py::arg("token"), py::arg("retry_json") = "")
      .def("http", &Execution::http)
      .def("http_begin", &Execution::http_begin)
      .def("image", &Execution::image)
      .def("image_begin", &Execution::image_begin)
      .def("acquire", &Execution::acquire)
      .def("acquire_begin", &Execution::acquire_begin)
      .def("step_rate_limited", &Execution::step_rate_limited)
      .def("sleep", &Execution::sleep)
      .def("wait_for_signal", &Execution::wait_for_signal)
      .def("invoke", &Execution::invoke)
      .def("progress", &Execution::progress)
      .def("artifact", &Execution::artifact)
      .def("binary_artifact", &Execution::binary_artifact)
      .def("emit", &Execution::emit)
      .def("chunk", &Execution::chunk)
      .def("finish_completed", &Execution::finish_completed)
      .def("finish_failed", &Execution::finish_failed, py::arg("error_class"), py::arg("message"),
           py::arg("type") = "", py::arg("trace") = "")
      .def("finish_parked", &Execution::finish_parked);
}

}  // namespace storyloom_native
