// The offline picture: a deterministic PNG drawn from an illustration brief
// with Cairo and Pango, labelled on the picture itself as a placeholder (not
// an image model), so demos and tests get illustrated books with no key and
// no network. The same brief and size always give the same bytes.
#pragma once

#include <string>
#include <string_view>

namespace storyloom::book {

// What the picture says it is, printed on it.
inline constexpr std::string_view kPlaceholderLabel =
    "PLACEHOLDER PICTURE - drawn offline, not by an image model";

// A width x height PNG (each 64..2048, else Error(invalid_argument) naming
// it): colours and shapes chosen from a hash of `brief`, the brief's first
// words and the placeholder label written on it.
std::string placeholder_png(std::string_view brief, int width = 512, int height = 384);

}  // namespace storyloom::book
