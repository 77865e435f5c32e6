// The "story" workflow: an outline, then one durable step per page that
// streams its text, then the assembled story as an artifact.
//
// Steps: "outline", "page/N/write" (N = 1..pages). Artifacts: "outline",
// "page/N" {page, content, plan, illustration}, "story". Streams: "page/N".
// Progress: {pages_total, pages_completed, stage, writing (the page being
// written, while one is)}.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storyloom/engine.h"

namespace story {

inline constexpr std::string_view kWorkflowName = "story";

// Holds workflow functions back until the terminal view is subscribed, so the
// view sees a resumed run from the point its snapshot was taken.
class StartGate {
 public:
  void open();
  void wait();

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

struct WriterSettings {
  std::chrono::milliseconds word_delay{15};  // pause between streamed words
  StartGate* gate = nullptr;                 // outlives the engine
};

// The run input {topic, pages}, and the idempotency key that makes the same
// topic and page count resume the same run.
storyloom::Json story_input(std::string_view topic, int pages);
std::string story_key(std::string_view topic, int pages);

void register_story_workflow(storyloom::Engine& engine, WriterSettings settings);

// What a snapshot of a story run holds: the pages whose write step completed,
// as (page, text) in order, and the outline's title (empty before the outline).
std::vector<std::pair<int, std::string>> pages_written(const storyloom::Snapshot& snapshot);
std::string outline_title(const storyloom::Snapshot& snapshot);

}  // namespace story
