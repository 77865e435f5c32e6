// sl_*binary_artifact*: pictures and other bytes stored as artifacts.
#include "args.h"
#include "handles.h"
#include "status.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using storyloom::capi::OutText;
using namespace storyloom;

SL_API int sl_execution_binary_artifact(sl_execution* execution, const char* key, size_t key_len,
                                        const char* content_type, size_t content_type_len,
                                        const void* bytes, size_t bytes_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    auto name = args.text(key, key_len, "key");
    auto type = args.text(content_type, content_type_len, "content_type");
    if (bytes == nullptr && bytes_len != 0) args.invalid("bytes is NULL but bytes_len is not 0");
    std::string data(bytes_len == 0 ? "" : std::string(static_cast<const char*>(bytes), bytes_len));
    e.execution.binary_artifact(name, type, std::move(data));
  });
}

SL_API int sl_engine_artifact_bytes(char** bytes, size_t* bytes_len, char** artifact_json,
                                    size_t* artifact_json_len, sl_engine* engine,
                                    const char* run_id, size_t run_id_len, const char* key,
                                    size_t key_len, int64_t version) {
  Args args(__func__);
  return guarded([&] {
    OutText out_bytes(args, bytes, bytes_len, "bytes");
    // The artifact's JSON is optional: NULL skips it.
    if (artifact_json != nullptr) *artifact_json = nullptr;
    if (artifact_json_len != nullptr) *artifact_json_len = 0;
    auto& e = args.required(engine, "engine");
    auto found = e.engine->artifact_bytes(args.text(run_id, run_id_len, "run_id"),
                                          args.text(key, key_len, "key"), version);
    if (artifact_json != nullptr) {
      OutText out_json(args, artifact_json, artifact_json_len, "artifact_json");
      out_json.set_json(to_json(found.info));
    }
    out_bytes.set(found.bytes);
  });
}
