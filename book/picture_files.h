// File names and extensions of pictures inside exported books.
#pragma once

#include <string>

#include "book.h"

namespace storyloom::book {

// ".png", ".jpg", ".webp", ".gif", ".svg"; ".bin" for anything else.
std::string picture_extension(const std::string& content_type);
// "page-3.png"
std::string picture_file_name(const Page& page);

}  // namespace storyloom::book
