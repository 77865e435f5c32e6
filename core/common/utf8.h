// UTF-8 decoding shared by validation (refuse) and error messages (repair).
#pragma once

#include <cstddef>
#include <string_view>

namespace storyloom::detail {

// The length in bytes of the well-formed UTF-8 character starting at text[i],
// or 0 when the bytes there are not UTF-8 (truncated, overlong, a surrogate,
// past U+10FFFF, a stray continuation byte).
size_t utf8_char_length(std::string_view text, size_t i) noexcept;

}  // namespace storyloom::detail
