// Execution::binary_artifact: a picture (any bytes with a media type) stored
// as a new artifact version in the run's next group commit.
#include "engine/artifact_bytes.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/validate.h"
#include "storyloom/execution.h"

namespace storyloom {
namespace detail {

void ExecutionState::binary_artifact(std::string_view key, std::string_view content_type,
                                     std::string bytes) {
  std::lock_guard lock(mutex_);
  check_open();
  check_name("artifact key", key);
  check_content_type(content_type);
  size_t limit = core_->options().max_artifact_bytes;
  if (bytes.size() > limit) {
    throw Error(ErrorCode::payload_too_large,
                "binary artifact '" + std::string(key) + "' is " + std::to_string(bytes.size()) +
                    " bytes; the limit is " + std::to_string(limit) + " (max_artifact_bytes)");
  }
  if (replaying()) return;
  Json value = binary_artifact_value(content_type, bytes);
  std::string text = boost::json::serialize(value);
  submit_locked([run = run_id(), key = std::string(key), type = std::string(content_type),
                 text = std::move(text), value = std::move(value),
                 bytes = std::move(bytes)](Batch& b) {
    // A replay after a crash may write the same picture again: keep one
    // version (the value carries the digest, so equal values mean equal bytes).
    auto latest = b.tx.latest_artifact(run, key);
    if (latest && latest->content_type == type && latest->value == text) return;
    int64_t version = b.tx.insert_binary_artifact(run, key, type, text, bytes, b.now_ms);
    b.event(run, "artifact", boost::json::object{{"key", key},
                                                 {"version", version},
                                                 {"value", value},
                                                 {"content_type", type}});
  });
}

}  // namespace detail

void Execution::binary_artifact(std::string_view key, std::string_view content_type,
                                std::string bytes) {
  state_->binary_artifact(key, content_type, std::move(bytes));
}

}  // namespace storyloom
