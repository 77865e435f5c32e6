#include "story_workflow.h"

#include <charconv>
#include <thread>

#include "offline_writer.h"

namespace story {
namespace {

using storyloom::Context;
using storyloom::Error;
using storyloom::ErrorCode;
using storyloom::Json;

Json outline_json(const Outline& outline) {
  boost::json::array pages;
  for (const auto& p : outline.pages) {
    pages.push_back(boost::json::object{{"plan", p.plan}, {"illustration", p.illustration}});
  }
  return boost::json::object{{"title", outline.title}, {"pages", std::move(pages)}};
}

Outline outline_from_json(const Json& value) {
  Outline outline;
  outline.title = value.at("title").as_string();
  for (const auto& p : value.at("pages").as_array()) {
    outline.pages.push_back(PagePlan{std::string(p.at("plan").as_string()),
                                     std::string(p.at("illustration").as_string())});
  }
  return outline;
}

// `writing`: the page being written now, 0 for none.
Json progress(int total, int completed, const std::string& stage, int writing = 0) {
  boost::json::object value{
      {"pages_total", total}, {"pages_completed", completed}, {"stage", stage}};
  if (writing > 0) value["writing"] = writing;
  return value;
}

// Streams `text` word by word into `stream`, as a model's tokens would arrive.
void stream_words(Context& ctx, const std::string& stream, const std::string& text,
                  std::chrono::milliseconds delay) {
  for (size_t start = 0; start < text.size();) {
    if (ctx.cancelled()) {
      // The engine is closing (Ctrl-C) or the run was cancelled. close() says
      // so a moment before it puts the run back in the queue; a step failing
      // in between would fail the whole run, so give close() that moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      throw Error(ErrorCode::cancelled, "stopped while writing " + stream +
                                            ": the run was cancelled or the engine closed");
    }
    size_t end = text.find(' ', start);
    end = end == std::string::npos ? text.size() : end + 1;
    ctx.chunk(stream, std::string_view(text).substr(start, end - start));
    start = end;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }
}

Json write_story(Context& ctx, const Json& input, const WriterSettings& settings) {
  if (settings.gate) settings.gate->wait();
  const auto* topic_value = input.as_object().if_contains("topic");
  const auto* pages_value = input.as_object().if_contains("pages");
  if (!topic_value || !topic_value->is_string() || !pages_value || !pages_value->is_int64() ||
      pages_value->as_int64() < 1 || pages_value->as_int64() > 1000) {
    throw Error(ErrorCode::invalid_argument,
                "story input must be {\"topic\": string, \"pages\": 1..1000}, got " +
                    boost::json::serialize(input));
  }
  std::string topic(topic_value->as_string());
  int pages = static_cast<int>(pages_value->as_int64());

  Json outline_value =
      ctx.step("outline", [&] { return outline_json(write_outline(topic, pages)); });
  Outline outline = outline_from_json(outline_value);
  if (outline.pages.size() != static_cast<size_t>(pages)) {
    throw Error(ErrorCode::invalid_state, "the stored outline of run '" + ctx.run_id() +
                                              "' plans " + std::to_string(outline.pages.size()) +
                                              " pages, the input asks for " +
                                              std::to_string(pages));
  }
  ctx.artifact("outline", outline_value);
  ctx.progress(progress(pages, 0, "outline ready"));

  boost::json::array written;
  for (int page = 1; page <= pages; ++page) {
    std::string key = "page/" + std::to_string(page);
    const PagePlan& plan = outline.pages.at(static_cast<size_t>(page - 1));
    ctx.progress(progress(pages, page - 1, "writing page " + std::to_string(page), page));
    Json content = ctx.step(key + "/write", [&] {
      std::string text = write_page(topic, outline, page);
      stream_words(ctx, key, text, settings.word_delay);
      return Json(text);
    });
    boost::json::object page_value{{"page", page},
                                   {"content", content},
                                   {"plan", plan.plan},
                                   {"illustration", plan.illustration}};
    ctx.artifact(key, page_value);
    ctx.progress(progress(pages, page, "page " + std::to_string(page) + " written"));
    written.push_back(std::move(page_value));
  }

  ctx.artifact("story", boost::json::object{{"title", outline.title},
                                            {"topic", topic},
                                            {"generator", kOfflineLabel},
                                            {"pages", std::move(written)}});
  ctx.progress(progress(pages, pages, "done"));
  return boost::json::object{{"title", outline.title}, {"pages", pages}, {"artifact", "story"}};
}

}  // namespace

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

Json story_input(std::string_view topic, int pages) {
  return boost::json::object{{"topic", topic}, {"pages", pages}};
}

std::string story_key(std::string_view topic, int pages) {
  // The topic itself, not a hash of it: two topics can never share a run.
  return "story-example:" + std::to_string(pages) + ":" + std::string(topic);
}

void register_story_workflow(storyloom::Engine& engine, WriterSettings settings) {
  engine.register_workflow(kWorkflowName,
                           storyloom::WorkflowFn([settings](Context& ctx, const Json& input) {
                             return write_story(ctx, input, settings);
                           }));
}

std::vector<std::pair<int, std::string>> pages_written(const storyloom::Snapshot& snapshot) {
  std::vector<std::pair<int, std::string>> pages;
  constexpr std::string_view prefix = "page/", suffix = "/write";
  for (const auto& step : snapshot.steps) {
    std::string_view name = step.name;
    if (step.status != "completed" || !step.result.is_string() ||
        name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
        !name.ends_with(suffix)) {
      continue;
    }
    std::string_view digits =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    int page = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), page);
    if (ec == std::errc() && end == digits.data() + digits.size()) {
      pages.emplace_back(page, std::string(step.result.as_string()));
    }
  }
  return pages;
}

std::string outline_title(const storyloom::Snapshot& snapshot) {
  for (const auto& step : snapshot.steps) {
    if (step.name == "outline" && step.status == "completed" && step.result.is_object()) {
      if (const auto* title = step.result.as_object().if_contains("title");
          title && title->is_string()) {
        return std::string(title->as_string());
      }
    }
  }
  return {};
}

}  // namespace story
