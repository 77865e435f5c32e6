#include "common/utf8.h"

#include <cstdint>
#include <string>

#include "storyloom/error.h"

namespace storyloom {
namespace detail {

size_t utf8_char_length(std::string_view text, size_t i) noexcept {
  auto lead = static_cast<unsigned char>(text[i]);
  size_t extra;
  uint32_t cp;
  if (lead < 0x80) {
    return 1;
  } else if ((lead >> 5) == 0x6) {
    extra = 1;
    cp = lead & 0x1f;
  } else if ((lead >> 4) == 0xe) {
    extra = 2;
    cp = lead & 0x0f;
  } else if ((lead >> 3) == 0x1e) {
    extra = 3;
    cp = lead & 0x07;
  } else {
    return 0;
  }
  if (i + extra >= text.size()) return 0;  // truncated sequence
  for (size_t k = 1; k <= extra; ++k) {
    auto cont = static_cast<unsigned char>(text[i + k]);
    if ((cont >> 6) != 0x2) return 0;
    cp = (cp << 6) | (cont & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
      (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
    return 0;
  }
  return extra + 1;
}

}  // namespace detail

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t n = detail::utf8_char_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER, one per bad byte
      ++i;
    } else {
      out.append(text.data() + i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace storyloom
