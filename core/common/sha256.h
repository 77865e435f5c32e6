// SHA-256 of a byte string, as lowercase hex: the digest a binary artifact
// carries so readers can check what they were given (FIPS 180-4).
#pragma once

#include <string>
#include <string_view>

namespace storyloom::detail {

std::string sha256_hex(std::string_view bytes);

}  // namespace storyloom::detail
