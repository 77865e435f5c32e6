#include "artifacts_out.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include "storyloom/error.h"

namespace storyloom::cli {
namespace {

std::string extension_of(const std::string& content_type) {
  static const std::map<std::string, std::string> known = {
      {"image/png", ".png"},         {"image/jpeg", ".jpg"},
      {"image/webp", ".webp"},       {"image/gif", ".gif"},
      {"image/svg+xml", ".svg"},     {"application/pdf", ".pdf"},
      {"application/epub+zip", ".epub"}, {"text/markdown", ".md"},
      {"text/plain", ".txt"},        {"application/json", ".json"}};
  std::string type = content_type.substr(0, content_type.find(';'));
  auto it = known.find(type);
  return it == known.end() ? ".bin" : it->second;
}

}  // namespace

std::string artifact_file_name(const ArtifactInfo& artifact) {
  std::string name = artifact.key;
  for (char& c : name) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
    if (!plain) c = '_';
  }
  // "." and ".." are not files.
  if (name.find_first_not_of('.') == std::string::npos) name = "_" + name;
  return name + (artifact.content_type.empty() ? ".json" : extension_of(artifact.content_type));
}

void write_artifacts(const std::vector<ArtifactInfo>& artifacts,
                     const std::function<std::string(const ArtifactInfo&)>& bytes_of,
                     const std::string& dir, std::ostream& out) {
  std::error_code ec;
  auto cannot = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument,
                "--out: cannot create the directory '" + dir + "': " + why);
  };
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
    cannot("a file of that name exists");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) cannot(ec.message());
  for (const auto& artifact : artifacts) {
    std::string data = artifact.content_type.empty()
                           ? boost::json::serialize(artifact.value) + "\n"
                           : bytes_of(artifact);
    auto path = (std::filesystem::path(dir) / artifact_file_name(artifact)).string();
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(data.data(), static_cast<std::streamsize>(data.size()));
    file.close();
    if (!file) {
      throw Error(ErrorCode::invalid_argument,
                  "--out: cannot write '" + path + "': " + std::strerror(errno));
    }
    out << path << " (" << data.size() << " bytes)\n";
  }
}

}  // namespace storyloom::cli
