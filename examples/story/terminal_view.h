// The terminal view of one story run: a one-line progress bar kept at the
// bottom, the text of the page being written streaming above it, and plain
// lines for everything else. On a terminal the bar is redrawn in place; when
// the output is a file or a pipe, progress is printed as lines instead.
//
// Thread-safe: on_event() runs on an engine thread while main() prints.
#pragma once

#include <cstdio>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "storyloom/events.h"

namespace story {

class TerminalView {
 public:
  // `live`: redraw the bar in place with ANSI escapes (stdout is a terminal).
  TerminalView(std::FILE* out, bool live, int columns, int pages_total);

  // A finished line above the bar.
  void line(std::string_view text);
  // The story's title, printed once however often it is reported.
  void show_title(std::string_view title);
  // The progress the run had before this process looked at it.
  void set_progress(const storyloom::Json& progress);
  // A page written by an earlier process, shown whole.
  void show_page(int page, std::string_view text, std::string_view note);
  // The subscription callback: progress ({pages_total, pages_completed,
  // pages_failed, stage, stream: the text being written}), chunk and artifact events.
  void on_event(const storyloom::Event& event);
  // Removes the bar; call before the final summary.
  void finish();

  int pages_completed() const;
  // The run waits for its outline to be approved (the last progress said so).
  bool awaiting_approval() const;

 private:
  void title_locked(std::string_view title);
  void progress_locked(const storyloom::Json& progress);
  void add_text(std::string_view text);
  // Records that `stream`'s current attempt begins at `start`; false for text
  // of an attempt a later one replaced. A new attempt restarts the stream.
  bool attempt_starts_locked(const std::string& stream, int64_t start);
  void flush_text();
  void emit(std::string_view finished_line);
  void redraw();
  void header(int page, std::string_view note);
  std::string bar() const;

  mutable std::mutex mutex_;
  std::FILE* out_;
  bool live_;
  size_t width_;            // where streamed text wraps
  bool bar_shown_ = false;  // live: the bottom two lines are the partial text line and the bar
  std::string partial_;     // streamed text not yet ended by a wrap
  std::string stream_;      // the stream being shown ("page/N", "page/N/revision/R", ...)
  std::map<std::string, std::string> held_;  // text of streams not shown yet
  std::map<std::string, int64_t> attempt_starts_;  // where each stream's current attempt begins
  int pages_total_ = 0;
  int pages_completed_ = 0;
  int pages_failed_ = 0;
  std::string stage_ = "starting";
  int plain_bar_pages_ = -1;  // pages_completed when the bar was last printed as a line
  bool title_shown_ = false;
};

}  // namespace story
