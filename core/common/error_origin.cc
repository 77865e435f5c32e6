// The origin of a host error (class name and traceback), bounded so that a
// runaway stack cannot bloat every stored failure and event.
#include <string>
#include <string_view>

#include "storyloom/error.h"
#include "utf8.h"

namespace storyloom {

namespace {

// The largest n <= limit such that text[0, n) ends on a character boundary.
size_t head_boundary(std::string_view text, size_t limit) {
  size_t i = 0;
  while (i < text.size()) {
    size_t n = detail::utf8_char_length(text, i);
    if (n == 0) n = 1;
    if (i + n > limit) break;
    i += n;
  }
  return i;
}

// The smallest start >= from such that text[start, end) begins on a character boundary.
size_t tail_boundary(std::string_view text, size_t from) {
  while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) ++from;
  return from;
}

// A trace over the limit keeps its first quarter (the error and the outer
// frames of a JS stack) and the rest from its end (the innermost frames and
// the exception line of a Python traceback).
std::string bounded_trace(const std::string& trace) {
  if (trace.size() <= kMaxOriginTraceBytes) return trace;
  size_t head = head_boundary(trace, kMaxOriginTraceBytes / 4);
  size_t tail = tail_boundary(trace, trace.size() - (kMaxOriginTraceBytes * 3 / 4 - 64));
  std::string out = trace.substr(0, head);
  out += "\n... (" + std::to_string(tail - head) + " bytes of the trace cut) ...\n";
  out += trace.substr(tail);
  return out;
}

}  // namespace

Error&& Error::with_origin(std::string_view type, std::string_view trace) && {
  std::string clean_type = valid_utf8(type);
  clean_type.resize(head_boundary(clean_type, kMaxOriginTypeBytes));
  origin_type_ = std::move(clean_type);
  origin_trace_ = bounded_trace(valid_utf8(trace));
  return std::move(*this);
}

}  // namespace storyloom
