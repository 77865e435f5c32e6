#include "story_workflow.h"

#include <charconv>
#include <map>

#include "book.h"
#include "outline.h"
#include "structured_answers.h"
#include "storyloom/error.h"

namespace story {
namespace {

using storyloom::Context;
using storyloom::Error;
using storyloom::ErrorCode;
using storyloom::Json;

constexpr int kMaxApprovalAttempts = 20;

struct Progress {
  int total = 0;
  int completed = 0;
  int failed = 0;
  int pictures_done = 0;
  int pictures_failed = 0;
  int pictures_in_progress = 0;

  Json at(const std::string& stage, int page = 0, const std::string& stream = "") const {
    return boost::json::object{{"pages_total", total},
                               {"pages_completed", completed},
                               {"pages_failed", failed},
                               {"pages_in_progress", page > 0 && pictures_in_progress == 0 ? 1 : 0},
                               {"illustrations_total", total},
                               {"illustrations_done", pictures_done},
                               {"illustrations_failed", pictures_failed},
                               {"illustrations_in_progress", pictures_in_progress},
                               {"stage", stage},
                               {"page", page},
                               {"stream", stream}};
  }
};

class StoryRun {
 public:
  StoryRun(Context& ctx, const StorySettings& settings, StoryInput input)
      : ctx_(ctx), settings_(settings), input_(std::move(input)) {
    progress_.total = input_.pages;
  }

  Json write() {
    Outline outline = make_outline();
    if (input_.approve_outline) outline = wait_for_approval(std::move(outline));
    boost::json::array pages;
    for (int page = 1; page <= input_.pages; ++page) {
      pages.push_back(write_page(outline, page));
    }
    // The pictures follow every page's text, so redoing one (a rewind to its
    // step) never rewrites a page.
    for (int page = 1; page <= input_.pages; ++page) {
      illustrate(outline, page, pages[static_cast<size_t>(page - 1)].as_object());
    }
    ctx_.artifact("story", boost::json::object{{"title", outline.title},
                                               {"written_by", written_by_},
                                               {"topic", input_.topic},
                                               {"author_style", input_.author_style},
                                               {"visual_style", outline.visual_style},
                                               {"quality", input_.quality},
                                               {"pages", std::move(pages)}});
    ctx_.progress(progress_.at("done"));
    return boost::json::object{
        {"title", outline.title}, {"pages", input_.pages}, {"artifact", "story"}};
  }

 private:
  std::string generate(TextRequest request, const std::string& stage) {
    return answer(std::move(request), stage).text;
  }

  storyloom::LlmResult answer(TextRequest request, const std::string& stage) {
    request.input = &input_;
    ctx_.progress(progress_.at(stage, request.page, request.stream));
    storyloom::LlmResult result = settings_.source(ctx_, request);
    // The story says who wrote it; the outline's writer speaks for the book.
    if (written_by_.empty()) {
      written_by_ = {{"provider", result.provider},
                     {"model", result.model},
                     {"language_model", result.provider != "offline"}};
    }
    return result;
  }

  Outline make_outline() {
    TextRequest request;
    request.kind = TextKind::outline;
    request.step = request.stream = "outline";
    Outline outline = outline_from_answer(answer(request, "writing the outline"), input_);
    ctx_.artifact("outline", to_json(outline));
    return outline;
  }

  // Waits for "approve"; a malformed edit is reported and the wait repeats.
  Outline wait_for_approval(Outline outline) {
    for (int attempt = 1; attempt <= kMaxApprovalAttempts; ++attempt) {
      ctx_.progress(progress_.at(std::string(kAwaitingApprovalStage)));
      auto decision = ctx_.wait_for_signal("approve");
      try {
        Outline approved = apply_outline_decision(outline, decision.value_or(Json()));
        if (to_json(approved) != to_json(outline)) ctx_.artifact("outline", to_json(approved));
        return approved;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::invalid_argument) throw;  // a rejection fails the run
        ctx_.emit("outline.edit_rejected", boost::json::object{{"message", e.what()}});
      }
    }
    throw Error(ErrorCode::invalid_argument,
                "the outline was not approved after " + std::to_string(kMaxApprovalAttempts) +
                    " malformed approve signals");
  }

  Json write_page(const Outline& outline, int page) {
    std::string key = "page/" + std::to_string(page);
    std::string of = std::to_string(page) + " of " + std::to_string(input_.pages);
    TextRequest request;
    request.outline = &outline;
    request.page = page;
    try {
      request.kind = TextKind::page;
      request.step = key + "/write";
      request.stream = key;
      request.draft = generate(request, "writing page " + of);
      std::string critique;
      for (int round = 1; round <= input_.quality; ++round) {
        request.round = round;
        request.kind = TextKind::critique;
        request.step = key + "/critique/" + std::to_string(round);
        request.stream = request.step;
        critique = request.critique = critique_from_answer(
            answer(request, "critiquing page " + of + ", round " + std::to_string(round)));
        request.kind = TextKind::revision;
        request.step = key + "/revise/" + std::to_string(round);
        request.stream = key + "/revision/" + std::to_string(round);
        request.draft =
            generate(request, "revising page " + of + ", round " + std::to_string(round));
      }
      request.kind = TextKind::illustration;
      request.step = request.stream = key + "/illustration";
      std::string illustration = generate(request, "illustration brief for page " + of);
      boost::json::object value{{"page", page},
                                {"content", request.draft},
                                {"plan", outline.plans.at(static_cast<size_t>(page - 1))},
                                {"critique", critique},
                                {"iteration", input_.quality},
                                {"illustration", illustration}};
      ctx_.artifact(key, value);
      ++progress_.completed;
      ctx_.progress(progress_.at("page " + of + " done"));
      return value;
    } catch (const Error& e) {
      // The step's retries are spent: show the page as failed; the run fails
      // with the step's error and retry() resumes at this page.
      if (e.code() != ErrorCode::cancelled && e.code() != ErrorCode::closed) {
        ++progress_.failed;
        ctx_.progress(progress_.at("page " + of + " failed: " + e.what()));
      }
      throw;
    }
  }

  // The page's picture, asked of the image step from its brief in the
  // outline's visual style and kept as the binary artifact page/N/picture. One that keeps failing leaves
  // the page with "no picture" (picture: null) and the story goes on.
  void illustrate(const Outline& outline, int page, boost::json::object& value) {
    std::string key = storyloom::book::picture_key(page);
    std::string of = std::to_string(page) + " of " + std::to_string(input_.pages);
    std::string brief(value.at("illustration").as_string());
    ++progress_.pictures_in_progress;
    ctx_.progress(progress_.at("drawing the picture of page " + of, page));
    try {
      storyloom::ImageRequest request;
      request.prompt = picture_prompt(outline, brief);
      request.artifact = key;
      ctx_.image(key, request);
      --progress_.pictures_in_progress;
      ++progress_.pictures_done;
      value["picture"] = key;
      ctx_.progress(progress_.at("picture of page " + of + " done"));
    } catch (const Error& e) {
      --progress_.pictures_in_progress;
      if (e.code() == ErrorCode::cancelled || e.code() == ErrorCode::closed) throw;
      ++progress_.pictures_failed;
      value["picture"] = nullptr;
      ctx_.emit("page.no_picture", boost::json::object{{"page", page}, {"message", e.what()}});
      ctx_.progress(progress_.at("page " + of + ": no picture: " + e.what()));
    }
  }

  Context& ctx_;
  const StorySettings& settings_;
  StoryInput input_;
  Progress progress_;
  boost::json::object written_by_;  // {provider, model, language_model}
};

}  // namespace

std::string picture_prompt(const Outline& outline, const std::string& brief) {
  std::string prompt =
      "Style: " + outline.visual_style + ". A picture for the story \"" + outline.title + "\". ";
  if (!outline.characters.empty()) prompt += "Characters: " + outline.characters + ". ";
  return prompt + brief;
}

void StartGate::open() {
  {
    std::lock_guard lock(mutex_);
    open_ = true;
  }
  opened_.notify_all();
}

void StartGate::wait() {
  std::unique_lock lock(mutex_);
  opened_.wait(lock, [this] { return open_; });
}

void register_story_workflow(storyloom::Engine& engine, StorySettings settings) {
  engine.register_workflow(
      kWorkflowName, storyloom::WorkflowFn([settings](Context& ctx, const Json& input) {
        if (settings.gate) settings.gate->wait();
        return StoryRun(ctx, settings, parse_story_input(input)).write();
      }));
}

std::vector<std::pair<int, std::string>> pages_written(const storyloom::Snapshot& snapshot) {
  std::map<int, std::pair<int64_t, std::string>> latest;  // page → (version, content)
  constexpr std::string_view prefix = "page/";
  for (const auto& a : snapshot.artifacts) {
    std::string_view key = a.key;
    if (!key.starts_with(prefix) || !a.value.is_object()) continue;
    std::string_view digits = key.substr(prefix.size());
    int page = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), page);
    const auto* content = a.value.as_object().if_contains("content");
    if (ec != std::errc() || end != digits.data() + digits.size() || !content ||
        !content->is_string()) {
      continue;
    }
    auto& slot = latest[page];
    if (a.version >= slot.first) slot = {a.version, std::string(content->as_string())};
  }
  std::vector<std::pair<int, std::string>> pages;
  for (auto& [page, value] : latest) pages.emplace_back(page, std::move(value.second));
  return pages;
}

std::string outline_title(const storyloom::Snapshot& snapshot) {
  std::string title;
  int64_t version = 0;
  for (const auto& a : snapshot.artifacts) {
    if (a.key != "outline" || !a.value.is_object() || a.version < version) continue;
    if (const auto* t = a.value.as_object().if_contains("title"); t && t->is_string()) {
      title = t->as_string();
      version = a.version;
    }
  }
  return title;
}

}  // namespace story
