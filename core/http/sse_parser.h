// SseParser: the incremental server-sent events parser of the LLM client
// (the WHATWG "event stream" rules). Bytes go in as they arrive, in pieces of
// any size; complete events come out. Correct for every split of the input: a
// CRLF across two reads, a multibyte UTF-8 character across two reads (the
// parser works on bytes and hands out an event only once its blank line came).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace storyloom::detail {

struct SseEvent {
  std::string event;  // the `event:` field; "" means "message"
  std::string data;   // `data:` lines joined with '\n'
  std::string id;     // the last `id:` seen (it carries over to later events)
};

class SseParser {
 public:
  using OnEvent = std::function<void(SseEvent&&)>;

  // Lines end with CRLF, LF or CR. Lines starting with ':' are comments
  // (keep-alives) and are counted, not dispatched. An event is dispatched at
  // a blank line when it has data; `retry:` and unknown fields are ignored.
  // A leading UTF-8 BOM is skipped. Throws only what on_event throws (the
  // parser stays usable, the rest of that feed is lost).
  void feed(std::string_view bytes, const OnEvent& on_event);
  // The stream ended: dispatches a last event that had data but no blank line
  // after it (servers that omit the final blank line), then resets for a new
  // stream (the last id too); comments() keeps counting.
  void finish(const OnEvent& on_event);

  // Comment lines seen since construction.
  size_t comments() const { return comments_; }
  // Bytes held for an unfinished line or event (for a cap against endless lines).
  size_t buffered_bytes() const;

 private:
  std::string_view skip_bom(std::string_view bytes);
  void line(std::string_view text, const OnEvent& on_event);
  void dispatch(const OnEvent& on_event);

  std::string line_;       // the current unfinished line
  bool after_cr_ = false;  // the last byte was a CR: a following LF belongs to it
  bool started_ = false;   // past the optional BOM
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  size_t comments_ = 0;
};

}  // namespace storyloom::detail
