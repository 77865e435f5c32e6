// storyloom._native: the pybind11 module over the C ABI (storyloom.h) and
// nothing else. It only translates: strings and JSON text, status codes into
// Python exceptions, and threads (the GIL). The Python API lives in
// storyloom/__init__.py and friends.
//
// Threads: every sl_* call that may block runs with the GIL released. The
// execute callback arrives on an engine worker thread and takes the GIL to run
// the Python handler there; event callbacks and the outcome callbacks of llm
// steps, resource admissions and durability waits (on the engine's event, LLM
// I/O, limiter and writer threads) never touch Python: they copy what they got
// into a queue or slot that Python drains, so those threads never wait for the
// GIL.
//
// Why every call that may wait for the engine releases the GIL: step_begin,
// wait_durable, llm and acquire wait for the commit of this run's earlier
// writes (or a provider, or a resource), which the engine's threads complete.
// Holding the GIL there stalls every Python thread, the asyncio loop of async
// workflows included, for a commit (an fsync at durability "full"), and turns
// into a deadlock as soon as what the engine waits for needs the GIL: a
// worker's execute callback takes it, and a host that forwarded the writer
// thread's durability callback to its loop with call_soon_threadsafe would need
// it on that thread. This module's engine-thread callbacks never take the GIL
// (they copy into an Inbox a Python feeder thread drains), and its calls never
// hold it while they wait.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "storyloom/storyloom.h"

namespace py = pybind11;

namespace {

// storyloom.errors._from_native(code, error_class, message) -> exception
// instance; set by the Python package at import.
py::object& error_factory() {
  static py::object* factory = new py::object();  // leaked: outlives finalization
  return *factory;
}

// Raises the calling thread's last error as the matching Python exception.
// Call with the GIL held, on the thread that made the failing sl_* call.
[[noreturn]] void raise_last_error(int rc) {
  const char* msg = nullptr;
  size_t len = 0;
  sl_last_error_message(&msg, &len);
  std::string message(msg ? msg : "", msg ? len : 0);
  int cls = sl_last_error_class();
  int code = sl_last_error_code();
  if (code == SL_OK) code = rc;
  if (!error_factory()) throw std::runtime_error(message);
  const char* type = nullptr;
  const char* trace = nullptr;
  size_t type_len = 0;
  size_t trace_len = 0;
  sl_last_error_origin(&type, &type_len, &trace, &trace_len);
  py::object exc = error_factory()(code, cls, message, std::string(type ? type : "", type_len),
                                   std::string(trace ? trace : "", trace_len));
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

void check(int rc) {
  if (rc != SL_OK) raise_last_error(rc);
}

// Takes ownership of a buffer handed out by the library.
std::string take(char* buffer, size_t len) {
  if (buffer == nullptr) return std::string();
  std::string text(buffer, len);
  sl_free(buffer);
  return text;
}

std::optional<std::string> take_optional(char* buffer, size_t len) {
  if (buffer == nullptr) return std::nullopt;
  return take(buffer, len);
}

// Runs an sl_* call with the GIL released, then raises its error (GIL held).
template <typename F>
void call(F&& f) {
  int rc;
  {
    py::gil_scoped_release release;
    rc = f();
  }
  check(rc);
}

// ---- asynchronous outcomes (llm steps, resource admissions) -------------------

// (status, error_class, message, result JSON or None, memoized, will_retry)
using OutcomeTuple = std::tuple<int, int, std::string, std::optional<std::string>, bool, bool>;

struct OutcomeCopy {
  int status = SL_OK;
  int error_class = SL_CLASS_FATAL;
  std::string message;
  std::optional<std::string> result_json;
  bool memoized = false;
  bool will_retry = false;

  OutcomeTuple tuple() && {
    return {status, error_class, std::move(message), std::move(result_json), memoized, will_retry};
  }
};

// Outcomes of the calls async workflows started (llm steps, resource admissions),
// filled on engine threads and drained by one Python feeder thread that hands them to
// the engine's asyncio loop.
class Inbox {
 public:
  void push(uint64_t token, OutcomeCopy outcome) {
    {
      std::lock_guard lock(mutex_);
      outcomes_.emplace_back(token, std::move(outcome));
    }
    ready_.notify_one();
  }

  // Every queued outcome (at most max_outcomes), waiting up to timeout_s seconds for the
  // first one (negative: until one comes or close()); empty after the timeout or close.
  std::vector<std::pair<uint64_t, OutcomeTuple>> next_batch(double timeout_s, size_t max_outcomes) {
    std::vector<std::pair<uint64_t, OutcomeCopy>> got;
    {
      py::gil_scoped_release release;
      std::unique_lock lock(mutex_);
      auto has = [&] { return closed_ || !outcomes_.empty(); };
      if (timeout_s < 0) {
        ready_.wait(lock, has);
      } else {
        ready_.wait_for(lock, std::chrono::duration<double>(timeout_s), has);
      }
      while (!outcomes_.empty() && got.size() < max_outcomes) {
        got.push_back(std::move(outcomes_.front()));
        outcomes_.pop_front();
      }
    }
    std::vector<std::pair<uint64_t, OutcomeTuple>> out;
    out.reserve(got.size());
    for (auto& [token, outcome] : got) out.emplace_back(token, std::move(outcome).tuple());
    return out;
  }

  // Wakes the feeder; outcomes that arrive later are still queued (nobody reads them).
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<uint64_t, OutcomeCopy>> outcomes_;
  bool closed_ = false;
};

// One asynchronous sl_* call. Its outcome lands in `outcome` when it comes before the
// call returned (a memoized llm step, an admission at once) or when nobody uses an inbox
// (a sync workflow waiting on `done`); otherwise it goes to the inbox. The callbacks run
// on the calling thread or an engine thread (the LLM I/O thread, the resource limiter's):
// they copy and notify, never wait for the GIL.
struct Pending {
  std::mutex mutex;
  std::condition_variable done;
  bool returned = false;
  std::optional<OutcomeCopy> outcome;
  std::shared_ptr<Inbox> inbox;
  uint64_t token = 0;

  using Box = std::shared_ptr<Pending>;  // user_data: a heap copy the callback deletes

  static void on_llm(void* user_data, const sl_llm_outcome* o) {
    OutcomeCopy copy;
    copy.status = o->status;
    copy.error_class = o->error_class;
    copy.message.assign(o->message ? o->message : "", o->message ? o->message_len : 0);
    if (o->result_json != nullptr) copy.result_json.emplace(o->result_json, o->result_len);
    copy.memoized = o->memoized != 0;
    copy.will_retry = o->will_retry != 0;
    deliver(user_data, std::move(copy));
  }

  // An http step's outcome has the fields of an llm step's.
  static void on_http(void* user_data, const sl_http_outcome* o) {
    sl_llm_outcome same{o->status,      o->error_class, o->message,  o->message_len,
                        o->result_json, o->result_len,  o->memoized, o->will_retry};
    on_llm(user_data, &same);
  }

  // So has an image step's.
  static void on_image(void* user_data, const sl_image_outcome* o) {
    sl_llm_outcome same{o->status,      o->error_class, o->message,  o->message_len,
                        o->result_json, o->result_len,  o->memoized, o->will_retry};
    on_llm(user_data, &same);
  }

  static void on_acquired(void* user_data, int status, const char* message, size_t len) {
    OutcomeCopy copy;
    copy.status = status;
    copy.message.assign(message ? message : "", message ? len : 0);
    deliver(user_data, std::move(copy));
  }

  // sl_start_fn: on the engine's writer thread; the run JSON goes where a step's result does.
  static void on_start(void* user_data, int status, const char* run_json, size_t run_json_len,
                       const char* message, size_t message_len) {
    OutcomeCopy copy;
    copy.status = status;
    copy.message.assign(message ? message : "", message ? message_len : 0);
    if (status == SL_OK && run_json != nullptr) copy.result_json.emplace(run_json, run_json_len);
    deliver(user_data, std::move(copy));
  }

  // sl_durable_fn: on the calling thread or the engine's writer thread, which must not
  // wait (for the GIL least of all): copy, then notify or queue.
  static void on_durable(void* user_data, int status, const char* message, size_t len) {
    on_acquired(user_data, status, message, len);
  }

 private:
  static void deliver(void* user_data, OutcomeCopy copy) {
    std::unique_ptr<Box> box(static_cast<Box*>(user_data));
    Pending& p = **box;
    {
      std::lock_guard lock(p.mutex);
      if (!p.returned || !p.inbox) {
        p.outcome = std::move(copy);
        p.done.notify_all();
        return;
      }
    }
    p.inbox->push(p.token, std::move(copy));
  }
};

// Runs start(user_data) -> status without the GIL and waits (GIL released) for the
// outcome; raises the call's own error. For sync workflows on worker threads.
template <typename Start>
OutcomeTuple wait_for_outcome(Start&& start) {
  auto pending = std::make_shared<Pending>();
  int rc;
  {
    py::gil_scoped_release release;
    auto* box = new Pending::Box(pending);
    rc = start(static_cast<void*>(box));
    if (rc != SL_OK) {
      delete box;  // the callback never runs after an error
    } else {
      std::unique_lock lock(pending->mutex);
      pending->done.wait(lock, [&] { return pending->outcome.has_value(); });
    }
  }
  check(rc);
  return std::move(*pending->outcome).tuple();
}

// Runs start(user_data) -> status; the outcome when it came before the call returned,
// else None and the outcome goes to `inbox` under `token`. For async workflows.
template <typename Start>
std::optional<OutcomeTuple> begin_outcome(std::shared_ptr<Inbox> inbox, uint64_t token,
                                          Start&& start) {
  auto pending = std::make_shared<Pending>();
  pending->inbox = std::move(inbox);
  pending->token = token;
  call([&] {
    auto* box = new Pending::Box(pending);
    int rc = start(static_cast<void*>(box));
    if (rc != SL_OK) delete box;
    return rc;
  });
  std::lock_guard lock(pending->mutex);
  pending->returned = true;
  if (!pending->outcome) return std::nullopt;
  return std::move(*pending->outcome).tuple();
}

// ---- executions -----------------------------------------------------------

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
    // GIL released: step_begin waits for the commit of this run's earlier writes (see
    // the top of this file for why waiting on the engine with the GIL held deadlocks).
    call([&] {
      return sl_execution_step_begin_with_retry(&seq, &memoized, &result, &len, e, name.data(),
                                                name.size(), retry_json.data(), retry_json.size());
    });
    return {seq, memoized != 0, take_optional(result, len)};
  }

  // Host step, phase two, for a sync workflow: queues the result, then blocks (GIL
  // released) until it is committed; raises the engine's error when the commit failed
  // or the run was cancelled or taken over meanwhile.
  void step_complete(int64_t seq, const std::string& result_json) {
    sl_execution* e = live();
    call([&] {
      int rc = sl_execution_step_complete(e, seq, result_json.data(), result_json.size());
      return rc == SL_OK ? sl_execution_wait_durable(e) : rc;
    });
  }

  // Host step, phase two, for an async workflow: queues the result; the durability
  // outcome (status, message...) when it is already known, else None and it goes to
  // `inbox` under `token` once the commit ends.
  std::optional<OutcomeTuple> step_complete_begin(int64_t seq, const std::string& result_json,
                                                  std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = live();
    call([&] { return sl_execution_step_complete(e, seq, result_json.data(), result_json.size()); });
    return when_durable_begin(std::move(inbox), token);
  }

  // Blocks (GIL released) until everything this execution wrote so far is committed;
  // raises the engine's error otherwise. For sync workflows.
  void wait_durable() {
    sl_execution* e = live();
    call([&] { return sl_execution_wait_durable(e); });
  }

  // wait_durable() for an async workflow, completed like llm_begin.
  std::optional<OutcomeTuple> when_durable_begin(std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = live();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_when_durable(e, &Pending::on_durable, box);
    });
  }

  // type and trace: the Python exception's class and traceback ("" when unknown).
  void step_fail(int64_t seq, int error_class, const std::string& message, const std::string& type,
                 const std::string& trace) {
    sl_execution* e = live();
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
    sl_execution* e = live();
    call([&] {
      return sl_execution_step_rate_limited(e, seq, retry_after_ms, message.data(), message.size());
    });
  }

  // The built-in llm step for a sync workflow: blocks this thread (GIL released) until
  // the outcome comes; cancelling the run or closing the engine ends the wait at once.
  OutcomeTuple llm(const std::string& name, const std::string& request_json,
                   const std::string& retry_json) {
    sl_execution* e = live();
    return wait_for_outcome([&](void* box) {
      return sl_execution_llm_with_retry(e, name.data(), name.size(), request_json.data(),
                                         request_json.size(), retry_json.data(), retry_json.size(),
                                         &Pending::on_llm, box);
    });
  }

  // The built-in http step, for a sync workflow: as llm().
  OutcomeTuple http(const std::string& name, const std::string& request_json,
                    const std::string& retry_json) {
    sl_execution* e = live();
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
    sl_execution* e = live();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_http(e, name.data(), name.size(), request_json.data(),
                               request_json.size(), retry_json.data(), retry_json.size(),
                               &Pending::on_http, box);
    });
  }

  // The built-in image step, for a sync workflow: as llm().
  OutcomeTuple image(const std::string& name, const std::string& request_json,
                     const std::string& retry_json) {
    sl_execution* e = live();
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
    sl_execution* e = live();
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
    sl_execution* e = live();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_llm_with_retry(e, name.data(), name.size(), request_json.data(),
                                         request_json.size(), retry_json.data(), retry_json.size(),
                                         &Pending::on_llm, box);
    });
  }

  // One use of `resource` for the begun host step `seq`, for a sync workflow: blocks
  // this thread (GIL released) until the resource admits it or the run is cancelled.
  OutcomeTuple acquire(int64_t seq, const std::string& resource, double tokens) {
    sl_execution* e = live();
    return wait_for_outcome([&](void* box) {
      return sl_execution_acquire(e, seq, resource.data(), resource.size(), tokens,
                                  &Pending::on_acquired, box);
    });
  }

  // acquire() for an async workflow, completed like llm_begin.
  std::optional<OutcomeTuple> acquire_begin(int64_t seq, const std::string& resource, double tokens,
                                            std::shared_ptr<Inbox> inbox, uint64_t token) {
    sl_execution* e = live();
    return begin_outcome(std::move(inbox), token, [&](void* box) {
      return sl_execution_acquire(e, seq, resource.data(), resource.size(), tokens,
                                  &Pending::on_acquired, box);
    });
  }

  int sleep(const std::string& name, int64_t duration_ms) {
    int state = -1;
    sl_execution* e = live();
    call([&] { return sl_execution_sleep(&state, e, name.data(), name.size(), duration_ms); });
    return state;
  }

  std::pair<int, std::optional<std::string>> wait_for_signal(const std::string& name,
                                                             int64_t timeout_ms) {
    int state = -1;
    char* payload = nullptr;
    size_t len = 0;
    sl_execution* e = live();
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
    sl_execution* e = live();
    call([&] {
      return sl_execution_invoke(&state, &output, &len, e, name.data(), name.size(),
                                 workflow.data(), workflow.size(), input_json.data(),
                                 input_json.size());
    });
    return {state, take_optional(output, len)};
  }

  void progress(const std::string& value_json) {
    sl_execution* e = live();
    call([&] { return sl_execution_progress(e, value_json.data(), value_json.size()); });
  }

  void artifact(const std::string& key, const std::string& value_json) {
    sl_execution* e = live();
    call([&] {
      return sl_execution_artifact(e, key.data(), key.size(), value_json.data(), value_json.size());
    });
  }

  void binary_artifact(const std::string& key, const std::string& content_type,
                       const py::bytes& bytes) {
    sl_execution* e = live();
    std::string_view data = bytes;
    call([&] {
      return sl_execution_binary_artifact(e, key.data(), key.size(), content_type.data(),
                                          content_type.size(), data.data(), data.size());
    });
  }

  void emit(const std::string& type, const std::string& data_json) {
    sl_execution* e = live();
    call([&] {
      return sl_execution_emit(e, type.data(), type.size(), data_json.data(), data_json.size());
    });
  }

  void chunk(const std::string& stream, const std::string& text) {
    sl_execution* e = live();
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

 private:
  sl_execution* live() const {
    if (e_ == nullptr) {
      PyErr_SetString(PyExc_RuntimeError, "this execution is already finished");
      throw py::error_already_set();
    }
    return e_;
  }
  sl_execution* release() {
    sl_execution* e = live();
    e_ = nullptr;
    return e;
  }
  std::string lend(int (*fn)(const char**, size_t*, const sl_execution*)) const {
    const char* out = nullptr;
    size_t len = 0;
    check(fn(&out, &len, live()));
    return std::string(out, len);
  }

  sl_execution* e_;
};

// ---- subscriptions --------------------------------------------------------

struct EventCopy {
  int64_t id;
  int kind;
  std::string run_id, type, data_json;
  int64_t created_at_ms;
};

using EventTuple = std::tuple<int64_t, int, std::string, std::string, std::string, int64_t>;

// Filled on the engine's event thread, drained by Python; never runs Python.
struct EventQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<EventCopy> events;

  static void on_event(void* user_data, const sl_event* ev) {
    auto* q = static_cast<EventQueue*>(user_data);
    EventCopy copy{ev->id,
                   ev->kind,
                   std::string(ev->run_id, ev->run_id_len),
                   std::string(ev->type, ev->type_len),
                   std::string(ev->data_json, ev->data_len),
                   ev->created_at_ms};
    {
      std::lock_guard lock(q->mutex);
      q->events.push_back(std::move(copy));
    }
    q->ready.notify_one();
  }
};

class Subscription {
 public:
  Subscription() : queue_(std::make_unique<EventQueue>()) {}
  ~Subscription() { close_handle(); }

  void open(sl_engine* engine, const std::string& run_id, int64_t after_id) {
    sl_subscription* sub = nullptr;
    EventQueue* q = queue_.get();
    call([&] {
      return sl_engine_subscribe(&sub, engine, run_id.data(), run_id.size(), after_id,
                                 &EventQueue::on_event, q);
    });
    sub_ = sub;
  }

  // The next event, or None after timeout_s seconds (negative: wait forever).
  std::optional<EventTuple> next(double timeout_s) {
    std::optional<EventCopy> got;
    {
      py::gil_scoped_release release;
      std::unique_lock lock(queue_->mutex);
      auto has = [&] { return !queue_->events.empty(); };
      if (timeout_s < 0) {
        queue_->ready.wait(lock, has);
      } else {
        queue_->ready.wait_for(lock, std::chrono::duration<double>(timeout_s), has);
      }
      if (!queue_->events.empty()) {
        got = std::move(queue_->events.front());
        queue_->events.pop_front();
      }
    }
    if (!got) return std::nullopt;
    return EventTuple{got->id,
                      got->kind,
                      std::move(got->run_id),
                      std::move(got->type),
                      std::move(got->data_json),
                      got->created_at_ms};
  }

  // Every queued event (at most max_events), waiting up to timeout_s seconds for the
  // first one; empty after the timeout. One GIL round trip per batch, not per event.
  std::vector<EventTuple> next_batch(double timeout_s, size_t max_events) {
    std::vector<EventCopy> got;
    {
      py::gil_scoped_release release;
      std::unique_lock lock(queue_->mutex);
      auto has = [&] { return !queue_->events.empty(); };
      if (timeout_s < 0) {
        queue_->ready.wait(lock, has);
      } else {
        queue_->ready.wait_for(lock, std::chrono::duration<double>(timeout_s), has);
      }
      while (!queue_->events.empty() && got.size() < max_events) {
        got.push_back(std::move(queue_->events.front()));
        queue_->events.pop_front();
      }
    }
    std::vector<EventTuple> out;
    out.reserve(got.size());
    for (auto& e : got) {
      out.emplace_back(e.id, e.kind, std::move(e.run_id), std::move(e.type), std::move(e.data_json),
                       e.created_at_ms);
    }
    return out;
  }

  void close() {
    py::gil_scoped_release release;
    close_handle();
  }

 private:
  void close_handle() {
    sl_subscription* sub = std::exchange(sub_, nullptr);
    sl_subscription_close(sub);
  }

  std::unique_ptr<EventQueue> queue_;
  sl_subscription* sub_ = nullptr;
};

// ---- engines --------------------------------------------------------------

// A registered workflow's handler, the execute callback's user_data. It must
// outlive every call of that callback, and close() may leave one running in a
// step that ignores it (sl_engine_close returns at its drain timeout): so a
// Registration is never freed. close() lets go of the handler instead (under
// the GIL); a few bytes per registered workflow stay behind.
struct Registration {
  py::object handler;  // handler(Execution) -> True when it kept the execution to finish later
};

// The lifecycle callback's user_data: the package's span mapper
// (storyloom/_telemetry.py), called with each report's JSON on the engine's
// reporter thread, which holds no engine lock, so taking the GIL there is safe.
struct LifecycleHandler {
  py::object fn;
};

void on_lifecycle(void* user_data, const char* json, size_t len) {
  if (!Py_IsInitialized()) return;
  auto* handler = static_cast<LifecycleHandler*>(user_data);
  py::gil_scoped_acquire gil;
  try {
    handler->fn(py::str(json, len));
  } catch (py::error_already_set& err) {
    err.discard_as_unraisable(handler->fn);  // telemetry never breaks the engine
  }
}

void execute(void* user_data, sl_execution* execution) {
  auto* reg = static_cast<Registration*>(user_data);
  if (!Py_IsInitialized()) {
    static const char kMsg[] = "the Python interpreter is shutting down";
    sl_execution_finish_failed(execution, SL_CLASS_RETRYABLE, kMsg, sizeof kMsg - 1);
    return;
  }
  py::gil_scoped_acquire gil;
  // Our own reference: close() may let go of reg->handler while this call runs.
  py::object handler = reg->handler;
  if (handler.is_none()) {
    static const char kMsg[] = "the engine is closed";
    sl_execution_finish_failed(execution, SL_CLASS_RETRYABLE, kMsg, sizeof kMsg - 1);
    return;
  }
  auto ex = std::make_shared<Execution>(execution);
  bool kept = false;
  try {
    // True: the handler handed the execution to the package's asyncio loop, which
    // finishes it later (the C ABI allows finishing from any thread).
    kept = handler(ex).is(py::bool_(true));
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
  if (!kept && !ex->finished()) {
    try {
      ex->finish_failed(SL_CLASS_FATAL, "the workflow handler returned without finishing", "", "");
    } catch (py::error_already_set&) {
      PyErr_Clear();
    }
  }
}

std::pair<const char*, size_t> view(const std::optional<std::string>& s) {
  if (!s) return {nullptr, 0};
  return {s->data(), s->size()};
}

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
    py::gil_scoped_release release;
    std::unique_lock lock(mutex_);
    if (engine_ == nullptr || closing_) return;
    closing_ = true;
    idle_.wait(lock, [this] { return in_flight_ == 0; });
    sl_engine* e = std::exchange(engine_, nullptr);
    lock.unlock();
    sl_engine_close(e);
    // An execute callback left running by close may still read its
    // Registration: let go of the handlers, never of the Registrations.
    py::gil_scoped_acquire gil;
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
    use([&](sl_engine* e) {
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

py::bytes event_to_sse(int64_t id, int kind, const std::string& run_id, const std::string& type,
                       const std::string& data_json, int64_t created_at_ms) {
  sl_event ev{};
  ev.id = id;
  ev.kind = kind;
  ev.run_id = run_id.c_str();
  ev.run_id_len = run_id.size();
  ev.type = type.c_str();
  ev.type_len = type.size();
  ev.data_json = data_json.c_str();
  ev.data_len = data_json.size();
  ev.created_at_ms = created_at_ms;
  char* out = nullptr;
  size_t len = 0;
  check(sl_event_to_sse(&out, &len, &ev));
  return py::bytes(take(out, len));
}

py::bytes sse_heartbeat() {
  char* out = nullptr;
  size_t len = 0;
  check(sl_sse_heartbeat(&out, &len));
  return py::bytes(take(out, len));
}

py::bytes sse_retry(int64_t reconnect_ms) {
  char* out = nullptr;
  size_t len = 0;
  check(sl_sse_retry(&out, &len, reconnect_ms));
  return py::bytes(take(out, len));
}

}  // namespace

void bind_webhooks(py::module_& m, void (*check)(int));  // webhooks.cc
void bind_email(py::module_& m, void (*check)(int));     // email.cc

PYBIND11_MODULE(_native, m) {
  m.doc() = "storyloom C ABI binding (internal; use the storyloom package)";
  bind_webhooks(m, check);
  bind_email(m, check);

  m.attr("OK") = static_cast<int>(SL_OK);
  m.attr("WAIT_READY") = static_cast<int>(SL_WAIT_READY);
  m.attr("WAIT_TIMED_OUT") = static_cast<int>(SL_WAIT_TIMED_OUT);
  m.attr("WAIT_PARKED") = static_cast<int>(SL_WAIT_PARKED);
  m.attr("CLASS_RETRYABLE") = static_cast<int>(SL_CLASS_RETRYABLE);
  m.attr("CLASS_FATAL") = static_cast<int>(SL_CLASS_FATAL);
  m.attr("CLASS_RATE_LIMITED") = static_cast<int>(SL_CLASS_RATE_LIMITED);
  m.attr("CLASS_TIMEOUT") = static_cast<int>(SL_CLASS_TIMEOUT);
  m.attr("EVENT_STORED") = static_cast<int>(SL_EVENT_STORED);
  m.attr("EVENT_TRANSIENT") = static_cast<int>(SL_EVENT_TRANSIENT);
  m.attr("EVENT_CURSOR") = static_cast<int>(SL_EVENT_CURSOR);
  m.attr("DURABILITY_FULL") = static_cast<int>(SL_DURABILITY_FULL);
  m.attr("DURABILITY_NORMAL") = static_cast<int>(SL_DURABILITY_NORMAL);

  m.def("version", [] { return std::string(sl_version()); });
  m.def("set_error_factory", [](py::object f) { error_factory() = std::move(f); });
  m.def("event_to_sse", &event_to_sse);
  m.def("sse_heartbeat", &sse_heartbeat);
  m.def("sse_retry", &sse_retry);

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

  py::class_<Inbox, std::shared_ptr<Inbox>>(m, "Inbox")
      .def(py::init<>())
      .def("next_batch", &Inbox::next_batch, py::arg("timeout_s"), py::arg("max_outcomes"))
      .def("close", &Inbox::close)
      .def_property_readonly("closed", &Inbox::closed);

  py::class_<Subscription>(m, "Subscription")
      .def("next", &Subscription::next, py::arg("timeout_s"))
      .def("next_batch", &Subscription::next_batch, py::arg("timeout_s"), py::arg("max_events"))
      .def("close", &Subscription::close);

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
