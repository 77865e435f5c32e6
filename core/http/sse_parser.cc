// Incremental event-stream parsing (WHATWG HTML, "Server-sent events",
// "Interpreting an event stream"). The parser works on bytes: a line ends only
// at CR or LF, which never occur inside a multibyte UTF-8 sequence, so a
// character split across reads is simply joined again in line_.
#include "http/sse_parser.h"

#include <utility>

namespace storyloom::detail {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

size_t SseParser::buffered_bytes() const { return line_.size() + event_.size() + data_.size(); }

void SseParser::feed(std::string_view bytes, const OnEvent& on_event) {
  if (bytes.empty()) return;
  if (!started_) bytes = skip_bom(bytes);
  if (after_cr_ && !bytes.empty()) {
    after_cr_ = false;
    // The LF of a CRLF whose CR ended the previous read: that line is done.
    if (bytes.front() == '\n') bytes.remove_prefix(1);
  }
  while (!bytes.empty()) {
    const size_t end = bytes.find_first_of("\r\n");
    if (end == std::string_view::npos) {
      line_.append(bytes);
      return;
    }
    if (line_.empty()) {
      // The whole line is in this read: parse it in place, no copy.
      line(bytes.substr(0, end), on_event);
    } else {
      line_.append(bytes.substr(0, end));
      line(line_, on_event);
      line_.clear();
    }
    size_t next = end + 1;
    if (bytes[end] == '\r') {
      if (next < bytes.size()) {
        if (bytes[next] == '\n') ++next;
      } else {
        after_cr_ = true;
      }
    }
    bytes.remove_prefix(next);
  }
}

void SseParser::finish(const OnEvent& on_event) {
  if (!line_.empty()) {
    // A last line with no line end; a lone partial BOM is such a line too.
    std::string last = std::move(line_);
    line_.clear();
    line(last, on_event);
  }
  dispatch(on_event);
  // A fresh stream follows (a reconnect): nothing of this one carries over.
  line_.clear();
  after_cr_ = false;
  started_ = false;
  event_.clear();
  data_.clear();
  has_data_ = false;
  last_id_.clear();
}

std::string_view SseParser::skip_bom(std::string_view bytes) {
  // The BOM's bytes seen so far sit in line_: if the stream turns out not to
  // start with a BOM they are the start of the first line, as they should be.
  while (!started_ && !bytes.empty()) {
    if (bytes.front() != kBom[line_.size()]) {
      started_ = true;
      break;
    }
    line_.push_back(bytes.front());
    bytes.remove_prefix(1);
    if (line_.size() == kBom.size()) {
      line_.clear();
      started_ = true;
    }
  }
  return bytes;
}

void SseParser::line(std::string_view text, const OnEvent& on_event) {
  if (text.empty()) {
    dispatch(on_event);
    return;
  }
  if (text.front() == ':') {
    ++comments_;
    return;
  }
  std::string_view field = text;
  std::string_view value;
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    field = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    // An id holding NUL is ignored as a whole (browsers do the same).
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  }
  // `retry:` concerns reconnecting EventSource clients, not us; other fields
  // are ignored by the standard.
}

void SseParser::dispatch(const OnEvent& on_event) {
  if (!has_data_) {
    event_.clear();
    return;
  }
  SseEvent out{std::move(event_), std::move(data_), last_id_};
  // Reset before the callback, so a callback that throws leaves a parser
  // ready for the next event.
  event_.clear();
  data_.clear();
  has_data_ = false;
  on_event(std::move(out));
}

}  // namespace storyloom::detail
