// Status codes and the thread's last error into Python exceptions; the
// library's buffers into strings.
#include <atomic>
#include <chrono>
#include <thread>

#include "native.h"

namespace storyloom_native {

namespace {
std::atomic<unsigned long> main_thread_ident{0};
}  // namespace

void remember_main_thread() {
  py::object main = py::module_::import("threading").attr("main_thread")();
  main_thread_ident = main.attr("ident").cast<unsigned long>();
}

bool interpreter_exiting() {
#if PY_VERSION_HEX >= 0x030D0000
  bool finalizing = Py_IsFinalizing();
#else
  bool finalizing = _Py_IsFinalizing();
#endif
  return finalizing && PyThread_get_thread_ident() != main_thread_ident.load();
}

ReleasedGil::~ReleasedGil() {
  if (!interpreter_exiting()) return;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
}

py::object& error_factory() {
  static py::object* factory = new py::object();  // leaked: outlives finalization
  return *factory;
}

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

std::pair<const char*, size_t> view(const std::optional<std::string>& s) {
  if (!s) return {nullptr, 0};
  return {s->data(), s->size()};
}

}  // namespace storyloom_native
