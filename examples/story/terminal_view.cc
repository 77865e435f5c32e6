#include "terminal_view.h"

#include <algorithm>

#include "story_workflow.h"

namespace story {
namespace {

constexpr size_t kBarCells = 24;
constexpr std::string_view kClearLine = "\r\033[K";
constexpr std::string_view kUpAndClear = "\r\033[K\033[1A\r\033[K";

int int_field(const storyloom::Json& object, std::string_view name) {
  if (!object.is_object()) return 0;
  const auto* v = object.as_object().if_contains(name);
  return v && v->is_int64() ? static_cast<int>(v->as_int64()) : 0;
}

}  // namespace

TerminalView::TerminalView(std::FILE* out, bool live, int columns, int pages_total)
    : out_(out),
      live_(live),
      width_(static_cast<size_t>(std::clamp(columns - 1, 40, 78))),
      pages_total_(pages_total) {}

void TerminalView::line(std::string_view text) {
  std::lock_guard lock(mutex_);
  flush_text();
  emit(text);
}

void TerminalView::show_title(std::string_view title) {
  std::lock_guard lock(mutex_);
  title_locked(title);
}

void TerminalView::title_locked(std::string_view title) {
  if (title_shown_) return;
  title_shown_ = true;
  flush_text();
  emit("");
  emit("  \u201c" + std::string(title) + "\u201d");
}

void TerminalView::set_progress(const storyloom::Json& progress) {
  std::lock_guard lock(mutex_);
  progress_locked(progress);
}

void TerminalView::progress_locked(const storyloom::Json& progress) {
  if (!progress.is_object()) return;
  pages_total_ = int_field(progress, "pages_total");
  pages_completed_ = int_field(progress, "pages_completed");
  pages_failed_ = int_field(progress, "pages_failed");
  if (const auto* s = progress.as_object().if_contains("stage"); s && s->is_string()) {
    stage_ = s->as_string();
  }
  if (live_) {
    redraw();
  } else if (pages_completed_ != plain_bar_pages_) {
    // Progress as a line of its own, once per page done.
    plain_bar_pages_ = pages_completed_;
    flush_text();
    emit(bar());
  }
  // A stream starts: its header, then the text that raced ahead of this event.
  const auto* stream = progress.as_object().if_contains("stream");
  if (stream && stream->is_string() && !stream->as_string().empty() &&
      stream->as_string() != stream_) {
    stream_ = stream->as_string();
    flush_text();
    emit("");
    emit("── " + stage_ + " ──");
    auto held = held_.extract(stream_);
    if (!held.empty()) add_text(held.mapped());
  }
}

bool TerminalView::awaiting_approval() const {
  std::lock_guard lock(mutex_);
  return stage_ == kAwaitingApprovalStage;
}

void TerminalView::show_page(int page, std::string_view text, std::string_view note) {
  std::lock_guard lock(mutex_);
  header(page, note);
  add_text(text);
  flush_text();
}

void TerminalView::on_event(const storyloom::Event& event) {
  if (event.kind == storyloom::EventKind::cursor) return;
  std::lock_guard lock(mutex_);
  if (event.type == "progress") progress_locked(event.data);
  if (!event.data.is_object()) return;
  const auto& data = event.data.as_object();
  if (event.type == "chunk") {
    const auto* stream = data.if_contains("stream");
    const auto* text = data.if_contains("text");
    if (!stream || !text || !stream->is_string() || !text->is_string()) return;
    // Text of an attempt that a later one replaced is not shown; a later
    // attempt's first text starts the stream again.
    const auto* start = data.if_contains("attempt_start");
    if (start && start->is_int64() &&
        !attempt_starts_locked(std::string(stream->as_string()), start->as_int64())) {
      return;
    }
    // Live text is delivered at once, stored events after their commit: the
    // first words of a page can arrive before the progress event that starts it.
    if (stream->as_string() == stream_) {
      add_text(text->as_string());
    } else {
      held_[std::string(stream->as_string())] += text->as_string();
    }
  } else if (event.type == "llm.attempt") {
    // A step streams again (a retry, or a run resumed after a crash): its text
    // starts at this offset, and the text shown so far is not what is kept.
    const auto* stream = data.if_contains("stream");
    const auto* offset = data.if_contains("offset");
    if (stream && stream->is_string() && offset && offset->is_int64()) {
      attempt_starts_locked(std::string(stream->as_string()), offset->as_int64());
    }
  } else if (event.type == "artifact") {
    const auto* key = data.if_contains("key");
    const auto* value = data.if_contains("value");
    if (!key || !key->is_string()) return;
    if (key->as_string().starts_with("page/")) {
      flush_text();  // the page is finished
      stream_.clear();
    } else if (key->as_string() == "outline" && value && value->is_object()) {
      const auto* title = value->as_object().if_contains("title");
      if (title && title->is_string()) title_locked(title->as_string());
    }
  }
}

bool TerminalView::attempt_starts_locked(const std::string& stream, int64_t start) {
  auto [it, inserted] = attempt_starts_.try_emplace(stream, start);
  if (inserted) return true;
  if (start < it->second) return false;  // an earlier attempt's text, arriving late
  if (start == it->second) return true;
  it->second = start;
  held_.erase(stream);
  if (stream == stream_) {
    flush_text();
    emit("(the text starts again: a new attempt)");
  }
  return true;
}

void TerminalView::finish() {
  std::lock_guard lock(mutex_);
  flush_text();
  if (live_ && bar_shown_) {
    std::fputs(std::string(kUpAndClear).c_str(), out_);  // the empty text line and the bar
    bar_shown_ = false;
  }
  std::fflush(out_);
}

int TerminalView::pages_completed() const {
  std::lock_guard lock(mutex_);
  return pages_completed_;
}

void TerminalView::header(int page, std::string_view note) {
  flush_text();
  std::string title = "── page " + std::to_string(page);
  if (pages_total_ > 0) title += " of " + std::to_string(pages_total_);
  if (!note.empty()) title += " (" + std::string(note) + ")";
  emit("");
  emit(title + " ──");
}

void TerminalView::add_text(std::string_view text) {
  for (char c : text) {
    if (c == '\n') {
      flush_text();
      continue;
    }
    partial_ += c;
    if (partial_.size() <= width_) continue;
    // Wrap at the last space that fits, or inside a word longer than a line
    // (at a UTF-8 character boundary). The rest is shorter than a line, so
    // emit() can redraw it on one line.
    size_t cut = partial_.rfind(' ', width_);
    size_t skip = 1;
    if (cut == std::string::npos || cut == 0) {
      cut = width_;
      while (cut > 0 && (static_cast<unsigned char>(partial_[cut]) & 0xC0) == 0x80) --cut;
      skip = 0;
    }
    std::string head = partial_.substr(0, cut);
    partial_.erase(0, cut + skip);
    emit(head);
  }
  redraw();
}

void TerminalView::flush_text() {
  if (partial_.empty()) return;
  std::string done = std::move(partial_);
  partial_.clear();
  emit(done);
}

void TerminalView::emit(std::string_view finished_line) {
  std::string out;
  if (live_ && bar_shown_) {
    // Replace the partial text line and the bar with the finished line, then
    // draw them again below it.
    out += kUpAndClear;
    out += finished_line;
    out += '\n';
    out += partial_;
    out += "\n";
    out += bar();
  } else {
    out += finished_line;
    out += '\n';
  }
  std::fputs(out.c_str(), out_);
  std::fflush(out_);
}

void TerminalView::redraw() {
  if (!live_) return;  // text lines come from emit(), progress lines from progress_locked()
  std::string out;
  out += bar_shown_ ? kUpAndClear : kClearLine;
  out += partial_;
  out += "\n";
  out += kClearLine;
  out += bar();
  bar_shown_ = true;
  std::fputs(out.c_str(), out_);
  std::fflush(out_);
}

std::string TerminalView::bar() const {
  size_t filled = pages_total_ > 0 ? kBarCells * static_cast<size_t>(pages_completed_) /
                                         static_cast<size_t>(pages_total_)
                                   : 0;
  std::string out = "[";
  for (size_t i = 0; i < kBarCells; ++i)
    out += i < filled ? (live_ ? "█" : "#") : (live_ ? "░" : ".");
  std::string status = "] " + std::to_string(pages_completed_) + "/" +
                       std::to_string(pages_total_) + " pages";
  if (pages_failed_ > 0) status += ", " + std::to_string(pages_failed_) + " failed";
  status += " - " + stage_;
  // A bar wider than the terminal would wrap and break the redraw.
  if (status.size() + kBarCells + 1 > width_) status.resize(width_ - kBarCells - 1);
  return out + status;
}

}  // namespace story
