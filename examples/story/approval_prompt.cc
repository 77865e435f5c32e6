#include "approval_prompt.h"

#include <poll.h>
#include <unistd.h>

#include "outline.h"

namespace story {

ApprovalPrompt::ApprovalPrompt(storyloom::Engine& engine, std::string run_id, std::string db,
                               TerminalView& view)
    : engine_(engine),
      run_id_(std::move(run_id)),
      db_(std::move(db)),
      view_(view),
      interactive_(isatty(STDIN_FILENO) == 1) {}

void ApprovalPrompt::poll() {
  if (!view_.awaiting_approval()) {
    asking_ = false;
    return;
  }
  if (!asking_) {
    asking_ = true;
    ask();
  }
  if (!interactive_) return;
  pollfd fd{STDIN_FILENO, POLLIN, 0};
  while (::poll(&fd, 1, 0) == 1 && (fd.revents & POLLIN) != 0) {
    char c = 0;
    if (read(STDIN_FILENO, &c, 1) != 1) {
      interactive_ = false;  // stdin closed: leave the run waiting
      return;
    }
    if (c != '\n') {
      typed_ += c;
      continue;
    }
    std::string line = std::move(typed_);
    typed_.clear();
    answer(line);
  }
}

void ApprovalPrompt::ask() {
  storyloom::Json outline;
  int64_t version = 0;
  for (const auto& a : engine_.artifacts(run_id_)) {
    if (a.key == "outline" && a.version > version) {
      outline = a.value;
      version = a.version;
    }
  }
  view_.line("");
  if (!outline.is_null()) {
    for (std::string line; auto c : outline_text(outline_from_json(outline))) {
      if (c != '\n') {
        line += c;
        continue;
      }
      view_.line("  " + line);
      line.clear();
    }
  }
  if (interactive_) {
    view_.line("approve this outline? type y and Enter to approve, n to reject");
  } else {
    view_.line("the run waits for its outline to be approved: storyloom --db " + db_ +
               " signal " + run_id_ + " approve '{\"approved\": true}'");
  }
}

void ApprovalPrompt::answer(const std::string& line) {
  if (line == "y" || line == "Y" || line == "yes") {
    engine_.signal(run_id_, "approve", boost::json::object{{"approved", true}});
    view_.line("outline approved");
  } else if (line == "n" || line == "N" || line == "no") {
    engine_.signal(run_id_, "approve",
                   boost::json::object{{"approved", false}, {"reason", "rejected at the terminal"}});
    view_.line("outline rejected");
  } else {
    view_.line("type y to approve or n to reject, then Enter");
  }
}

}  // namespace story
