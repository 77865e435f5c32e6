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
//
// The module's parts: native.h (errors, buffers, GIL-released calls),
// outcomes.* (asynchronous outcomes), execution.* (a workflow's context),
// subscription.* (live events), engine.cc, sse.cc, webhooks.cc, email.cc.
#include <string>

#include "native.h"

using namespace storyloom_native;

void bind_webhooks(py::module_& m, void (*check)(int));  // webhooks.cc
void bind_email(py::module_& m, void (*check)(int));     // email.cc

PYBIND11_MODULE(_native, m) {
  m.doc() = "storyloom C ABI binding (internal; use the storyloom package)";
  remember_main_thread();
  bind_webhooks(m, check);
  bind_email(m, check);
  bind_sse(m);
  bind_outcomes(m);
  bind_execution(m);
  bind_subscription(m);
  bind_engine(m);

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
}
