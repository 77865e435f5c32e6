// Incremental event-stream parsing (WHATWG HTML, "Server-sent events",
// "Interpreting an event stream"). The parser works on bytes: a line ends only
// at CR or LF, which never occur inside a multibyte UTF-8 sequence, so a
// character split across reads is joined again in line_ before the line is
// decoded; decoding line by line gives what decoding the whole stream would.
#include "http/sse_parser.h"

#include <utility>

namespace storyloom::detail {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// The length of the valid UTF-8 sequence at `at`, or 0 and in `bad` the
// length of the maximal subpart to replace by one U+FFFD.
size_t utf8_sequence(std::string_view s, size_t at, size_t& bad) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(at);
  if (c < 0x80) return 1;
  size_t need = 0;
  unsigned char lower = 0x80, upper = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lower = 0xA0;
    if (c == 0xED) upper = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lower = 0x90;
    if (c == 0xF4) upper = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (at + i >= s.size()) break;
    unsigned char d = b(at + i);
    if (d < lower || d > upper) break;
    lower = 0x80;
    upper = 0xBF;
  }
  if (i == need + 1) return need + 1;
  bad = i;  // the lead byte and the continuation bytes that were right so far
  return 0;
}

}  // namespace

std::string utf8_with_replacements(std::string_view bytes) {
  std::string out;
  size_t at = 0;
  while (at < bytes.size()) {
    size_t bad = 0;
    size_t n = utf8_sequence(bytes, at, bad);
    if (n > 0) {
      out.append(bytes.substr(at, n));
      at += n;
    } else {
      out.append(kReplacement);
      at += bad;
    }
  }
  return out;
}

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
    size_t next = end + 1;
    if (bytes[end] == '\r') {
      if (next < bytes.size()) {
        if (bytes[next] == '\n') ++next;
      } else {
        after_cr_ = true;
      }
    }
    std::string_view rest = bytes.substr(next);
    if (line_.empty()) {
      // The whole line is in this read: parse it in place, no copy.
      line(bytes.substr(0, end), on_event);
    } else {
      line_.append(bytes.substr(0, end));
      std::string whole = std::move(line_);
      line_.clear();
      line(whole, on_event);
    }
    bytes = rest;
  }
}

bool SseParser::finish(const OnEvent& /*on_event*/) {
  // "If the file ends in the middle of an event, before the final empty line,
  // the incomplete event is not dispatched."
  bool discarded = !line_.empty() || block_fields_ > 0;
  line_.clear();
  after_cr_ = false;
  started_ = false;
  event_.clear();
  data_.clear();
  has_data_ = false;
  block_fields_ = 0;
  id_buffer_ = last_event_id_;  // an uncommitted id is lost with its block
  return discarded;
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
  ++block_fields_;
  for (unsigned char c : text) {
    if (c >= 0x80) {
      // Only lines with non-ASCII bytes pay for the check (and a copy when invalid).
      std::string decoded = utf8_with_replacements(text);
      return field(decoded);
    }
  }
  field(text);
}

void SseParser::field(std::string_view text) {
  std::string_view name = text;
  std::string_view value;
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (name == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (name == "event") {
    event_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
  } else if (name == "retry") {
    if (value.empty() || value.size() > 18) return;  // 18 digits always fit in 64 bits
    int64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;
      ms = ms * 10 + (c - '0');
    }
    retry_ = ms;
  }
  // Other fields are ignored by the standard.
}

void SseParser::dispatch(const OnEvent& on_event) {
  block_fields_ = 0;
  last_event_id_ = id_buffer_;
  if (!has_data_) {
    event_.clear();
    return;
  }
  SseEvent out{std::move(event_), std::move(data_), last_event_id_};
  // Reset before the callback, so a callback that throws leaves a parser
  // ready for the next event.
  event_.clear();
  data_.clear();
  has_data_ = false;
  on_event(std::move(out));
}

}  // namespace storyloom::detail
