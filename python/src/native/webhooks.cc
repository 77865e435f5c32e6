// Webhook signing and verification (sl_webhook_sign, sl_webhook_verify):
// quick, CPU only, so they hold the GIL. The engine-bound webhook calls are
// Engine methods in engine.cc.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "storyloom/storyloom.h"

namespace py = pybind11;

namespace {

std::string take_text(char* buffer, size_t len) {
  std::string text(buffer ? buffer : "", buffer ? len : 0);
  sl_free(buffer);
  return text;
}

}  // namespace

// `check` raises the calling thread's last error when the status is not SL_OK.
void bind_webhooks(py::module_& m, void (*check)(int)) {
  m.def(
      "webhook_sign",
      [check](const std::string& secret, const std::string& webhook_id, int64_t timestamp_s,
              const std::string& body) {
        char* out = nullptr;
        size_t len = 0;
        check(sl_webhook_sign(&out, &len, secret.data(), secret.size(), webhook_id.data(),
                              webhook_id.size(), timestamp_s, body.data(), body.size()));
        return take_text(out, len);
      },
      py::arg("secret"), py::arg("webhook_id"), py::arg("timestamp_s"), py::arg("body"));
  m.def(
      "webhook_verify",
      [check](const std::string& secret, const std::string& headers_json, const std::string& body,
              int64_t now_s, int64_t tolerance_s) {
        char* out = nullptr;
        size_t len = 0;
        check(sl_webhook_verify(&out, &len, secret.data(), secret.size(), headers_json.data(),
                                headers_json.size(), body.data(), body.size(), now_s, tolerance_s));
        return take_text(out, len);
      },
      py::arg("secret"), py::arg("headers_json"), py::arg("body"), py::arg("now_s"),
      py::arg("tolerance_s"));
}
