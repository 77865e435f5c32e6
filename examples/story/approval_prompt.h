// Asks the person at the terminal to approve the outline when a run waits for
// it (--approve-outline), and sends the "approve" signal with the answer. When
// stdin is not a terminal it prints the storyloom CLI command that approves it.
#pragma once

#include <string>

#include "storyloom/engine.h"
#include "terminal_view.h"

namespace story {

class ApprovalPrompt {
 public:
  ApprovalPrompt(storyloom::Engine& engine, std::string run_id, std::string db, TerminalView& view);
  // Call often from the main thread; never blocks.
  void poll();

 private:
  void ask();
  void answer(const std::string& line);

  storyloom::Engine& engine_;
  std::string run_id_;
  std::string db_;
  TerminalView& view_;
  bool interactive_;
  bool asking_ = false;
  std::string typed_;  // the answer typed so far
};

}  // namespace story
