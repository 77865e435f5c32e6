// sl_email_send: one SMTP exchange, run with the GIL released (it blocks).
#include <string>

#include "native.h"

// `check` raises the calling thread's last error when the status is not SL_OK.
void bind_email(py::module_& m, void (*check)(int)) {
  m.def(
      "send_email",
      [check](const std::string& config_json, const std::string& message_json, const std::string& message_id) {
        char* out = nullptr;
        size_t len = 0;
        int rc;
        {
          storyloom_native::ReleasedGil released;
          rc = sl_email_send(&out, &len, config_json.data(), config_json.size(), message_json.data(),
                             message_json.size(), message_id.data(), message_id.size());
        }
        check(rc);
        std::string text(out ? out : "", out ? len : 0);
        sl_free(out);
        return text;
      },
      py::arg("config_json"), py::arg("message_json"), py::arg("message_id"));
}
