// Text made safe for XHTML and Markdown.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace storyloom::book {

// &, <, >, " and ' escaped; control characters other than \n and \t dropped
// (XML 1.0 forbids them).
std::string xml_escaped(std::string_view text);

// The paragraphs of `text`: split at blank lines, each trimmed, empty ones dropped.
std::vector<std::string> paragraphs(std::string_view text);

}  // namespace storyloom::book
