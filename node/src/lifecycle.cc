#include "lifecycle.h"

#include <memory>
#include <string>

namespace storyloom_node {

// The engine's reporter thread -> JS thread; the report is copied (it is only
// lent for the call). Dropped when the environment is going away (JsChannel).
void on_lifecycle(void* user_data, const char* json, size_t len) {
  auto* lifecycle = static_cast<Lifecycle*>(user_data);
  auto* copy = new std::string(json, len);
  auto status = lifecycle->channel->Call(
      copy, [](Napi::Env env, Napi::Function fn, std::string* report) {
        std::unique_ptr<std::string> owned(report);
        if (env == nullptr || fn.IsEmpty()) return;
        try {
          fn.Call({Napi::String::New(env, *owned)});
        } catch (const Napi::Error&) {
          // A throwing mapper must not take the process down: the report is dropped.
        }
      });
  if (status != napi_ok) delete copy;
}

}  // namespace storyloom_node
