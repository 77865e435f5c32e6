// Binary artifacts (pictures): how their rows become ArtifactInfo, how their
// bytes are read back, and what a media type must look like. Shared by the
// engine and the read-only StoreReader so both answer alike.
#pragma once

#include <string>
#include <string_view>

#include "store/store.h"
#include "storyloom/run.h"

namespace storyloom::detail {

ArtifactInfo artifact_info(const store::ArtifactRecord& record, const std::string& run_id);

// `version` 0: the latest. Throws not_found (no such key or version) or
// invalid_argument (a JSON artifact); the run must exist.
ArtifactBytes read_artifact_bytes(store::ReadTx& tx, const std::string& run_id,
                                  std::string_view key, int64_t version);

// Throws invalid_argument unless `content_type` is "type/subtype" (parameters
// allowed) in printable ASCII, at most 128 bytes.
void check_content_type(std::string_view content_type);

// The stored value of a binary artifact: {"content_type","size","sha256"}.
Json binary_artifact_value(std::string_view content_type, std::string_view bytes);

}  // namespace storyloom::detail
