// The "story" workflow: the pipeline a story app runs, written against the
// public C++ API.
//
//   outline → [wait for "approve", which may edit the outline] → per page:
//   write → (critique → revise) × quality → illustration brief → artifact
//   "page/N" → artifact "story".
//
// Steps: "outline", "approve" (the signal wait; again after a malformed edit), "page/N/write",
// "page/N/critique/R", "page/N/revise/R", "page/N/illustration", then per page
// "page/N/picture" (the built-in image step).
// Streams (chunk events, live): "outline", "page/N", "page/N/critique/R",
// "page/N/revision/R", "page/N/illustration".
// Artifacts: "outline" {title, visual_style, plans}, "page/N" {page, content,
// plan, critique, iteration, illustration}, "page/N/picture" (image/png,
// written by the image step), "story".
// Progress: {pages_total, pages_completed, pages_failed, pages_in_progress,
// stage, page (the page being worked on, 0 for none), stream (being written)}.
// Events: "outline.edit_rejected" {message} when an approve signal's edits
// are malformed (the workflow then waits for another "approve").
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "outline.h"
#include "story_input.h"
#include "storyloom/engine.h"
#include "text_source.h"

namespace story {

inline constexpr std::string_view kWorkflowName = "story";
// The progress stage while the run waits for an "approve" signal.
inline constexpr std::string_view kAwaitingApprovalStage = "waiting for outline approval";

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

// Pictures come from the engine's image step (storyloom/image.h): its
// default image provider, offline unless the engine is configured otherwise
// (the offline one draws with EngineOptions::images.offline_drawer).
struct StorySettings {
  TextSource source;          // where every piece of text comes from
  StartGate* gate = nullptr;  // outlives the engine
};

// The prompt of page N's picture: the outline's visual style, title and
// characters, the same for every page so the pictures stay alike, then the
// page's brief.
std::string picture_prompt(const Outline& outline, const std::string& brief);

void register_story_workflow(storyloom::Engine& engine, StorySettings settings);

// The finished pages in a snapshot of a story run, as (page, content) in page order.
std::vector<std::pair<int, std::string>> pages_written(const storyloom::Snapshot& snapshot);
// The outline's title (empty before the outline exists).
std::string outline_title(const storyloom::Snapshot& snapshot);

}  // namespace story
