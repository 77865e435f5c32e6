// What every file of storyloom._native shares: the translation of the C ABI's
// status codes and last error into Python exceptions, the library's buffers
// into strings, and the rule that a call which may wait for the engine runs
// with the GIL released (module.cc says why).
#pragma once

#include <pybind11/pybind11.h>
// In every file that binds: the STL casters must be the same in every translation unit.
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>

#include "storyloom/storyloom.h"

namespace py = pybind11;

namespace storyloom_native {

// storyloom.errors._from_native(code, error_class, message) -> exception
// instance; set by the Python package at import.
py::object& error_factory();

// Raises the calling thread's last error as the matching Python exception.
// Call with the GIL held, on the thread that made the failing sl_* call.
[[noreturn]] void raise_last_error(int rc);

void check(int rc);

// Takes ownership of a buffer handed out by the library.
std::string take(char* buffer, size_t len);
std::optional<std::string> take_optional(char* buffer, size_t len);

// (pointer, length) of an optional string; (nullptr, 0) for none.
std::pair<const char*, size_t> view(const std::optional<std::string>& s);

// Whether the interpreter is finalizing and this is not its main thread (the
// one that finalizes): taking the GIL on this thread now would end the thread.
bool interpreter_exiting();
// Called once at import: the main thread is the one threading.main_thread() names.
void remember_main_thread();

// py::gil_scoped_release for any thread, daemon threads at interpreter exit
// included. Before Python 3.14, a thread that takes the GIL back while the
// interpreter finalizes is ended with pthread_exit, whose unwinding out of
// pybind11's noexcept destructor aborts the process ("terminate called without
// an active exception"): the async form of Engine.events waits here in a
// daemon feeder thread. Such a thread is parked for good instead, holding no
// lock (declare the guard before any lock); the process is exiting, and 3.14
// parks it the same way.
class ReleasedGil {
 public:
  ReleasedGil() = default;
  ReleasedGil(const ReleasedGil&) = delete;
  ReleasedGil& operator=(const ReleasedGil&) = delete;
  ~ReleasedGil();  // then release_ takes the GIL back

 private:
  py::gil_scoped_release release_;
};

// Runs an sl_* call with the GIL released, then raises its error (GIL held).
template <typename F>
void call(F&& f) {
  int rc;
  {
    ReleasedGil released;
    rc = f();
  }
  check(rc);
}

// The module's parts, each binding its own classes and functions.
void bind_outcomes(py::module_& m);      // outcomes.cc: Inbox
void bind_execution(py::module_& m);     // execution.cc: Execution (a workflow's context)
void bind_subscription(py::module_& m);  // subscription.cc: Subscription (live events)
void bind_engine(py::module_& m);        // engine.cc: Engine
void bind_sse(py::module_& m);           // sse.cc: the SSE wire format

}  // namespace storyloom_native
