#include "picture_files.h"

namespace storyloom::book {

std::string picture_extension(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  if (type == "image/png") return ".png";
  if (type == "image/jpeg") return ".jpg";
  if (type == "image/webp") return ".webp";
  if (type == "image/gif") return ".gif";
  if (type == "image/svg+xml") return ".svg";
  return ".bin";
}

std::string picture_file_name(const Page& page) {
  return "page-" + std::to_string(page.number) +
         picture_extension(page.picture ? page.picture->content_type : "");
}

}  // namespace storyloom::book
