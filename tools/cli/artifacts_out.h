// `storyloom artifacts RUN --out DIR`: the latest version of each artifact of
// a run written as files, pictures as their bytes.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "storyloom/run.h"

namespace storyloom::cli {

// The file name of an artifact: its key with every character other than
// letters, digits, '.', '-' and '_' made '_', and an extension from its media
// type (.json for JSON artifacts, .png, .jpg, .webp, .gif, .svg, .pdf, .epub,
// .md, .txt, else .bin).
std::string artifact_file_name(const ArtifactInfo& artifact);

// Writes each artifact into `dir` (created if needed), reading a binary one's
// bytes through `bytes_of`; prints "PATH (N bytes)" per file. Throws Error
// (invalid_argument) naming the directory or file that could not be written.
void write_artifacts(const std::vector<ArtifactInfo>& artifacts,
                     const std::function<std::string(const ArtifactInfo&)>& bytes_of,
                     const std::string& dir, std::ostream& out);

}  // namespace storyloom::cli
