// How the `storyloom` tool prints runs, events and artifacts. Pure functions
// from public API values to text, so they are tested without a store.
#pragma once

#include <cstdint>
#include <streambuf>
#include <string>
#include <vector>

#include "storyloom/events.h"
#include "storyloom/json.h"
#include "storyloom/run.h"

namespace storyloom::cli {

// UTC, ISO 8601 with milliseconds ("2024-05-01T12:00:00.123Z"); "-" for 0.
std::string format_time(int64_t ms);

// Indented with two spaces, keys in their stored order, ending in a newline.
std::string pretty_json(const Json& value);

// The run's fields (storyloom::to_json) plus last_event_id and its steps.
Json snapshot_json(const Snapshot& snapshot);

// One aligned line per run: id, status, workflow, owner ("-" when none), created,
// and for a run whose stored row cannot be decoded "UNREADABLE: <why>".
std::string run_table(const std::vector<RunInfo>& runs);

// {"id","type","data"} and a newline; transient chunks have "id":null and
// "transient":true. Cursor events carry no data and give "" (nothing to print).
std::string event_json_line(const Event& event);

// {"key","version","value","created_at_ms"} and a newline.
std::string artifact_json_line(const ArtifactInfo& artifact);

// What the tool prints passes through this filter, so stored text (an owner,
// an error message, an event) can never drive the operator's terminal:
// control characters other than newline and tab, DEL and the C1 controls
// (U+0080..U+009F, which some terminals also obey) are written as \u00XX.
// That spelling is also a JSON escape, so JSON output stays valid and equal.
class TerminalSafeBuf : public std::streambuf {
 public:
  explicit TerminalSafeBuf(std::streambuf* to) : to_(to) {}
  ~TerminalSafeBuf() override;

 protected:
  int overflow(int ch) override;
  int sync() override;

 private:
  bool put(char c);
  bool put_escaped(unsigned char c);

  std::streambuf* to_;
  bool pending_c2_ = false;  // 0xC2 seen: the next byte may make a C1 control
};

// `text` as TerminalSafeBuf would print it.
std::string terminal_safe(std::string_view text);

}  // namespace storyloom::cli
