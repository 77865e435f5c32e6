// story: writes a short illustrated-book-style story durably into a SQLite
// file, streaming each page as it is written. Run the same command again after
// Ctrl-C (or a crash) and the same run resumes: written pages are not redone.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "approval_prompt.h"
#include "book.h"
#include "options.h"
#include "placeholder_picture.h"
#include "story_export.h"
#include "story_workflow.h"
#include "terminal_view.h"

namespace {

using namespace std::chrono_literals;
using storyloom::Json;
using storyloom::RunStatus;

// Waits up to `timeout` for SIGINT or SIGTERM; returns the signal, or 0.
int wait_stop_signal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>(timeout.count() % 1000) * 1'000'000L};
  int sig = sigtimedwait(&signals, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

// "text from openai (gpt-4o-mini)", or the offline generator's label.
std::string text_source_label(storyloom::Engine& engine, const std::string& model) {
  Json providers = engine.llm_providers();
  std::string name(providers.at("default").as_string());
  if (name == "offline") return story::offline_label();
  for (const auto& p : providers.at("providers").as_array()) {
    if (p.at("name").as_string() != name) continue;
    std::string m = model.empty() ? std::string(p.at("model").as_string()) : model;
    return "text from " + name + " (" + m + ")";
  }
  return "text from " + name;
}

int report(storyloom::Engine& engine, const std::string& run_id, const story::Options& options,
           story::TerminalView& view) {
  auto snap = engine.snapshot(run_id);
  view.finish();
  if (snap.run.status != RunStatus::completed) {
    std::string why = snap.run.status == RunStatus::failed
                          ? std::string(snap.run.error.at("message").as_string()) +
                                "; run the same command to retry it"
                          : std::string("it was ") + storyloom::to_string(snap.run.status);
    std::fprintf(stderr, "story: run %s did not complete: %s\n", run_id.c_str(), why.c_str());
    return 1;
  }
  const Json* story = nullptr;
  for (const auto& a : snap.artifacts) {
    if (a.key == "story") story = &a.value;
  }
  if (story == nullptr) throw std::runtime_error("run " + run_id + " has no 'story' artifact");
  const Json* written_by = story->as_object().if_contains("written_by");
  std::printf("\n\"%s\": %zu pages, %s\n", story->at("title").as_string().c_str(),
              story->at("pages").as_array().size(),
              story::written_by_label(written_by ? *written_by : Json()).c_str());
  std::printf("stored in %s, run %s (artifacts \"story\", \"page/1\"...)\n", options.db.c_str(),
              run_id.c_str());
  for (const auto& path : options.export_paths) {
    if (path.ends_with(".md")) {
      // The pictures go beside the text, into "<name>_pictures/".
      std::filesystem::path file(path);
      std::string pictures = file.stem().string() + "_pictures";
      for (const auto& a : snap.artifacts) {
        if (a.content_type != "image/png" || !a.key.starts_with("page/")) continue;
        std::filesystem::create_directories(file.parent_path() / pictures);
        std::string page = a.key.substr(5, a.key.find('/', 5) - 5);  // N of page/N/picture
        story::write_text_file((file.parent_path() / pictures / ("page-" + page + ".png")).string(),
                               engine.artifact_bytes(run_id, a.key, a.version).bytes);
      }
      story::write_text_file(path, story::story_markdown(*story, options.db, run_id, pictures));
    } else {
      auto book = storyloom::book::book_from_snapshot(snap, [&](const storyloom::ArtifactInfo& a) {
        return engine.artifact_bytes(run_id, a.key, a.version).bytes;
      });
      storyloom::book::write_book(book,
                                  path.ends_with(".pdf") ? storyloom::book::Format::pdf
                                                         : storyloom::book::Format::epub,
                                  path);
    }
    std::printf("exported to %s\n", path.c_str());
  }
  return 0;
}

int write_story(const story::Options& options, const sigset_t& stop_signals) {
  winsize ws{};
  bool live = isatty(STDOUT_FILENO) == 1;
  int columns =
      live && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  story::TerminalView view(stdout, live, columns, options.input.pages);

  story::StartGate gate;  // declared before the engine: its workers may wait on it
  storyloom::EngineOptions engine_options;
  engine_options.store = options.db;
  engine_options.drain_timeout = 100ms;  // Ctrl-C stops promptly; the run resumes next time
  storyloom::LlmProviderConfig offline;  // streams word by word, as a model's tokens arrive
  offline.name = "offline";
  offline.kind = storyloom::LlmProviderKind::offline;
  offline.model = "offline-placeholder";
  offline.offline_word_delay = options.word_delay;
  engine_options.llm.providers = {offline};
  engine_options.llm.default_provider = options.provider;
  // Pictures: the engine's image step; offline (a labelled placeholder) unless
  // STORYLOOM_IMAGE_PROVIDER names a configured provider (OPENAI_API_KEY).
  engine_options.images.offline_drawer = storyloom::book::placeholder_png;
  auto engine = storyloom::Engine::open(engine_options);
  view.line("storyloom story example: " + text_source_label(*engine, options.model));
  struct OpenOnExit {
    story::StartGate& gate;
    ~OpenOnExit() { gate.open(); }  // before the engine closes, on every path
  } open_on_exit{gate};
  story::register_story_workflow(*engine, {story::llm_text_source("", options.model), &gate});
  engine->launch();  // every workflow is registered: now runs may execute (and resume)

  storyloom::StartOptions start;
  start.idempotency_key = story::story_key(options.input);
  auto run =
      engine->start(story::kWorkflowName, story::to_json(options.input), start);
  if (run.status == RunStatus::failed) {
    view.line("run " + run.id + " failed earlier (" +
              std::string(run.error.at("message").as_string()) +
              "); retrying it, written pages are kept");
    engine->retry(run.id);
  }
  auto snap = engine->snapshot(run.id);
  auto written = story::pages_written(snap);
  if (snap.run.status == RunStatus::completed) {
    view.line("run " + run.id + " is already complete; showing it");
  } else if (snap.run.status == RunStatus::cancelled) {
    view.line("run " + run.id + " was cancelled and stays so; another topic, page count or --db " +
              "starts a new story");
  } else if (snap.steps.empty()) {
    view.line("starting run " + run.id + " (" + std::to_string(options.input.pages) + " pages) in " +
              options.db);
  } else {
    view.line("resuming run " + run.id + " (" + std::to_string(written.size()) + " of " +
              std::to_string(options.input.pages) + " pages already written)");
  }
  if (auto title = story::outline_title(snap); !title.empty()) view.show_title(title);
  for (const auto& [page, text] : written) view.show_page(page, text, "written earlier");
  std::atomic<bool> ended = storyloom::is_finished(snap.run.status);
  if (!ended) view.set_progress(snap.run.progress);
  auto subscription = engine->subscribe(run.id, snap.last_event_id, [&](const storyloom::Event& e) {
    view.on_event(e);
    if (e.ends_run()) ended = true;
  });
  gate.open();
  story::ApprovalPrompt approval(*engine, run.id, options.db, view);
  while (!ended) {
    approval.poll();
    if (int sig = wait_stop_signal(stop_signals, 50ms); sig != 0) {
      engine->close();  // puts the run back in the queue
      subscription.close();
      view.finish();
      std::printf(
          "\nstopped: run %s is back in the queue with %d of %d pages written;\n"
          "run the same command to resume it\n",
          run.id.c_str(), view.pages_completed(), options.input.pages);
      return 128 + sig;
    }
  }
  subscription.close();
  return report(*engine, run.id, options, view);
}

}  // namespace

int main(int argc, char** argv) {
  std::string message;
  int exit_code = 0;
  auto options = story::parse_options(argc, argv, message, exit_code);
  if (!options) {
    std::fputs(message.c_str(), exit_code == 0 ? stdout : stderr);
    return exit_code;
  }
  // Blocked in every thread (the engine's threads inherit the mask), taken by
  // write_story() with sigtimedwait, so the main thread can close the engine.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    return write_story(*options, stop_signals);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "story: %s\n", e.what());
    return 1;
  }
}
