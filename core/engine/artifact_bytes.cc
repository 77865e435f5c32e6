#include "engine/artifact_bytes.h"

#include "common/sha256.h"
#include "store/row_codec.h"
#include "storyloom/error.h"

namespace storyloom::detail {

ArtifactInfo artifact_info(const store::ArtifactRecord& a, const std::string& run_id) {
  return ArtifactInfo{a.key, a.version,
                      store::decode_stored_json(a.value, run_id, "artifact '" + a.key + "'"),
                      a.created_at_ms, a.content_type};
}

ArtifactBytes read_artifact_bytes(store::ReadTx& tx, const std::string& run_id,
                                  std::string_view key, int64_t version) {
  if (key.empty()) throw Error(ErrorCode::invalid_argument, "artifact key is empty");
  if (version < 0) {
    throw Error(ErrorCode::invalid_argument,
                "artifact version must not be negative, got " + std::to_string(version));
  }
  std::string k(key);
  std::optional<store::ArtifactRecord> found;
  if (version == 0) {
    found = tx.latest_artifact(run_id, k);
  } else {
    for (auto& a : tx.artifacts(run_id, false)) {
      if (a.key == k && a.version == version) found = std::move(a);
    }
  }
  std::string which = "artifact '" + k + "'" +
                      (version == 0 ? "" : " version " + std::to_string(version)) + " of run '" +
                      run_id + "'";
  if (!found) throw Error(ErrorCode::not_found, "no " + which);
  if (found->content_type.empty()) {
    throw Error(ErrorCode::invalid_argument,
                which + " holds JSON, not bytes; read it with artifacts()");
  }
  auto bytes = tx.artifact_bytes(run_id, k, found->version);
  if (!bytes) {
    throw Error(ErrorCode::store, "the bytes of " + which + " are missing from the store");
  }
  return ArtifactBytes{artifact_info(*found, run_id), std::move(*bytes)};
}

void check_content_type(std::string_view content_type) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument,
                "content type '" + std::string(content_type.substr(0, 128)) + "' " + why);
  };
  if (content_type.empty()) {
    throw Error(ErrorCode::invalid_argument,
                "content type is empty; give a media type such as image/png");
  }
  if (content_type.size() > 128) bad("is longer than 128 bytes");
  for (char c : content_type) {
    if (c < 0x20 || c > 0x7e) bad("has a byte that is not printable ASCII");
  }
  auto slash = content_type.find('/');
  auto end = content_type.find(';');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= content_type.size() ||
      (end != std::string_view::npos && end <= slash + 1) ||
      content_type.substr(0, end).find(' ') != std::string_view::npos) {
    bad("is not a media type of the form type/subtype (such as image/png)");
  }
}

Json binary_artifact_value(std::string_view content_type, std::string_view bytes) {
  return boost::json::object{{"content_type", content_type},
                             {"size", static_cast<int64_t>(bytes.size())},
                             {"sha256", sha256_hex(bytes)}};
}

}  // namespace storyloom::detail
