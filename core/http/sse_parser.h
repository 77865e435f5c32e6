// SseParser: the incremental server-sent events parser of the LLM client, to
// the letter of the WHATWG rules ("Interpreting an event stream"). Bytes go
// in as they arrive, in pieces of any size; complete events come out. Correct
// for every split of the input: a CRLF across two reads, a multibyte UTF-8
// character across two reads (lines end only at CR or LF, which never occur
// inside a UTF-8 sequence, so every line is decoded whole).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace storyloom::detail {

struct SseEvent {
  std::string event;  // the `event:` field; "" means "message"
  std::string data;   // `data:` lines joined with '\n'
  std::string id;     // the last event ID when the event was dispatched (it carries over)
};

class SseParser {
 public:
  using OnEvent = std::function<void(SseEvent&&)>;

  // Lines end with CRLF, LF or CR. Lines starting with ':' are comments
  // (keep-alives) and are counted, not dispatched. A blank line dispatches
  // the event when it has data, and commits the last event ID either way.
  // Bytes that are not UTF-8 are decoded as U+FFFD (one per maximal invalid
  // subpart, as the Encoding standard does). A leading UTF-8 BOM is skipped.
  // `id` values holding NUL are ignored; `retry` values of ASCII digits only
  // are kept (retry()); other fields are ignored. Throws only what on_event
  // throws (the parser stays usable, the rest of that feed is lost).
  void feed(std::string_view bytes, const OnEvent& on_event);
  // The stream ended. A last block with no blank line after it is discarded,
  // its `id` not committed, as the standard says. Returns true when such an
  // unterminated block (or a partial last line) was discarded: for an LLM
  // stream that means the stream was cut. The parser is then ready for a new
  // stream (a reconnect); last_event_id(), retry() and comments() are kept.
  bool finish(const OnEvent& on_event);

  // The last event ID committed by a blank line ("" when none yet): what a
  // reconnecting client sends as Last-Event-ID.
  const std::string& last_event_id() const { return last_event_id_; }
  // The last valid `retry:` value in milliseconds (the reconnection time), or
  // nullopt when none came. Values too large for 64 bits are ignored.
  std::optional<int64_t> retry() const { return retry_; }
  // Comment lines seen since construction.
  size_t comments() const { return comments_; }
  // Bytes held for an unfinished line or event (for a cap against endless lines).
  size_t buffered_bytes() const;

 private:
  std::string_view skip_bom(std::string_view bytes);
  void line(std::string_view text, const OnEvent& on_event);
  void field(std::string_view text);
  void dispatch(const OnEvent& on_event);

  std::string line_;       // the current unfinished line
  bool after_cr_ = false;  // the last byte was a CR: a following LF belongs to it
  bool started_ = false;   // past the optional BOM
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  size_t block_fields_ = 0;  // field lines since the last blank line
  std::string id_buffer_;    // the last `id:` seen; committed at a blank line
  std::string last_event_id_;
  std::optional<int64_t> retry_;
  size_t comments_ = 0;
};

// `bytes` as UTF-8 with every maximal invalid subpart replaced by U+FFFD
// (WHATWG Encoding, "UTF-8 decode"); `bytes` itself when it is valid.
std::string utf8_with_replacements(std::string_view bytes);

}  // namespace storyloom::detail
