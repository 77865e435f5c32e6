// Runs `story` with a short word delay, interrupts it with SIGINT once page 1
// is stored, runs the same command again and checks that the same run resumed,
// that it completed, and that no page was written twice. Then the same with
// the text from the fake LLM server (an OpenAI-compatible provider) and the
// first process killed with SIGKILL mid-story.
//
// usage: story_resume_test PATH/TO/story SCRATCH_DIR
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fake_llm_server.h"
#include "storyloom/engine.h"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using storyloom::RunStatus;

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

[[noreturn]] void fatal(const std::string& what) {
  std::printf("FAIL %s\n", what.c_str());
  std::exit(1);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Starts `story` with stdout and stderr in `output`, SIGINT at its default,
// and `env` (NAME=value entries) added to this process's environment.
pid_t spawn_story(const std::vector<std::string>& args, const std::string& output,
                  const std::vector<std::string>& env = {}) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, output.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &files, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) fatal("cannot start " + args[0]);
  return pid;
}

// The exit code, or 128 + the signal that killed it.
int wait_exit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) fatal("waitpid failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool has_artifact(storyloom::Engine& engine, const std::string& run_id, const std::string& key) {
  for (const auto& a : engine.artifacts(run_id)) {
    if (a.key == key) return true;
  }
  return false;
}

// Waits until the story `pid` writes into the store has its page 1; returns
// its run id. Fails the test if the story exits first or takes a minute.
std::string wait_for_first_page(storyloom::Engine& engine, pid_t pid, const std::string& output) {
  std::string run_id;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    if (run_id.empty()) {
      auto runs = engine.list().runs;
      if (!runs.empty()) run_id = runs.front().id;
    }
    if (!run_id.empty() && has_artifact(engine, run_id, "page/1")) return run_id;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      fatal("story exited before writing page 1:\n" + read_file(output));
    }
    if (std::chrono::steady_clock::now() > deadline) fatal("page/1 did not appear within 60 s");
    std::this_thread::sleep_for(5ms);
  }
}

int check_resume(int argc, char** argv) {
  if (argc != 3) fatal("usage: story_resume_test PATH/TO/story SCRATCH_DIR");
  std::string story = argv[1], dir = argv[2];
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fatal("cannot create " + dir);
  std::string db = dir + "/story.db", markdown = dir + "/story.md";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  std::remove(markdown.c_str());
  const int pages = 3;
  std::string topic = "a kite that is afraid of heights";
  std::vector<std::string> args = {
      story, "--db", db, "--topic", topic, "--pages", std::to_string(pages), "--export", markdown};

  // A second engine on the same file, to look inside. It registers no
  // workflow, so it never claims the story's run.
  storyloom::EngineOptions inspect;
  inspect.store = db;
  auto engine = storyloom::Engine::open(inspect);  // never launched: a reader

  // 1. Slow enough to be caught in the middle; SIGINT once page 1 is stored.
  auto slow = args;
  slow.insert(slow.end(), {"--word-delay-ms", "5"});
  pid_t pid = spawn_story(slow, dir + "/first.out");
  std::string run_id = wait_for_first_page(*engine, pid, dir + "/first.out");
  kill(pid, SIGINT);
  int code = wait_exit(pid);
  std::string first = read_file(dir + "/first.out");
  std::printf("--- first run (interrupted) ---\n%s\n", first.c_str());
  check(code == 130, "the interrupted run exits 130 (got " + std::to_string(code) + ")");
  check(first.find("starting run " + run_id) != std::string::npos, "the first run says it starts");
  check(first.find("stopped: run " + run_id + " is back in the queue") != std::string::npos,
        "the first run says the run is back in the queue");
  auto after_stop = engine->get(run_id);
  check(after_stop.status == RunStatus::queued,
        std::string("the run is queued after SIGINT (got ") + to_string(after_stop.status) + ")");
  check(!has_artifact(*engine, run_id, "page/" + std::to_string(pages)),
        "SIGINT came before the last page was written");

  // 2. The same command resumes the same run.
  auto fast = args;
  fast.push_back("--fast");
  code = wait_exit(spawn_story(fast, dir + "/second.out"));
  std::string second = read_file(dir + "/second.out");
  std::printf("--- second run (resumed) ---\n%s\n", second.c_str());
  check(code == 0, "the resumed run exits 0 (got " + std::to_string(code) + ")");
  check(second.find("resuming run " + run_id + " (") != std::string::npos,
        "the second run resumes the same run");
  check(second.find("pages already written)") != std::string::npos &&
            second.find("(0 of") == std::string::npos,
        "the second run reports the pages written before");
  check(second.find("── writing page 1 of 3 ──") == std::string::npos,
        "page 1 is not streamed again");
  check(second.find("── page 1 of 3 (written earlier) ──") != std::string::npos,
        "page 1 is shown as written earlier");
  check(engine->get(run_id).status == RunStatus::completed, "the run completed");

  // Every page exactly once: one artifact version, one completed write step.
  auto artifacts = engine->artifacts(run_id);
  auto events = engine->events(run_id, 0, 10000);
  for (int page = 1; page <= pages; ++page) {
    std::string key = "page/" + std::to_string(page);
    size_t versions = 0, writes = 0;
    for (const auto& a : artifacts) versions += a.key == key;
    for (const auto& e : events) {
      writes += e.type == "step.completed" && e.data.at("name").as_string() == key + "/write";
    }
    check(versions == 1, key + " has exactly one version (got " + std::to_string(versions) + ")");
    check(writes == 1, key + "/write completed once (got " + std::to_string(writes) + ")");
  }
  std::string md = read_file(markdown);
  check(count(md, "\n## Page ") == static_cast<size_t>(pages), "the Markdown has 3 pages");
  for (int page = 1; page <= pages; ++page) {
    check(count(md, "\n## Page " + std::to_string(page) + "\n") == 1,
          "the Markdown has page " + std::to_string(page) + " once");
  }
  check(md.find("not a language model") != std::string::npos, "the Markdown is labelled");

  // 3. Once more: nothing to do.
  code = wait_exit(spawn_story(fast, dir + "/third.out"));
  std::string third = read_file(dir + "/third.out");
  check(code == 0 && third.find("run " + run_id + " is already complete") != std::string::npos,
        "a third start shows the finished run");
  check(engine->artifacts(run_id).size() == artifacts.size(), "and writes no new artifact");

  engine->close();
  return 0;
}

// Requests the fake server received whose prompt asks for `what`.
size_t asked(const storyloom::testing::FakeLlmServer& server, const std::string& what) {
  size_t n = 0;
  for (const auto& r : server.recorded()) n += r.body.find(what) != std::string::npos;
  return n;
}

int check_kill_with_a_provider(const std::string& story, const std::string& dir) {
  storyloom::testing::FakeLlmServer server;
  std::string db = dir + "/killed.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  const int pages = 3;
  std::vector<std::string> args = {
      story,       "--db", db,           "--topic", "a owl who counts stars", "--pages", "3",
      "--quality", "0",    "--provider", "openai"};
  auto env_for = [&](const std::string& scenario) {
    return std::vector<std::string>{"OPENAI_BASE_URL=" + server.base_url(scenario) + "/v1",
                                    "OPENAI_API_KEY=test-key-not-a-secret",
                                    "OPENAI_MODEL=fake-model"};
  };
  storyloom::EngineOptions inspect;
  inspect.store = db;
  inspect.llm.use_environment = false;
  auto engine = storyloom::Engine::open(inspect);  // never launched: a reader

  // 1. Tokens trickle in; SIGKILL once page 1 is stored: no chance to clean up.
  pid_t pid = spawn_story(args, dir + "/killed.out", env_for("slow_trickle;delay_ms=3"));
  std::string run_id = wait_for_first_page(*engine, pid, dir + "/killed.out");
  kill(pid, SIGKILL);
  check(wait_exit(pid) == 128 + SIGKILL, "the first run was killed");
  check(engine->get(run_id).status == RunStatus::running,
        "the killed process left its run running");
  check(!has_artifact(*engine, run_id, "page/" + std::to_string(pages)),
        "SIGKILL came before the last page");

  // 2. The same command, the provider answering at once: the run resumes.
  int code = wait_exit(spawn_story(args, dir + "/revived.out", env_for("normal")));
  std::string revived = read_file(dir + "/revived.out");
  std::printf("--- after SIGKILL (resumed) ---\n%s\n", revived.c_str());
  check(code == 0, "the resumed run exits 0 (got " + std::to_string(code) + ")");
  check(revived.find("resuming run " + run_id + " (") != std::string::npos,
        "the command resumes the killed run");
  check(revived.find("text from openai (fake-model)") != std::string::npos,
        "it says where the text comes from");
  check(engine->get(run_id).status == RunStatus::completed, "the run completed");
  check(asked(server, "Write page 1 of 3") == 1, "page 1 was asked of the provider once");
  check(asked(server, "Write page 3 of 3") == 1, "page 3 was asked of the provider once");
  auto events = engine->events(run_id, 0, 10000);
  for (int page = 1; page <= pages; ++page) {
    std::string key = "page/" + std::to_string(page) + "/write";
    size_t writes = 0;
    for (const auto& e : events) {
      writes += e.type == "step.completed" && e.data.at("name").as_string() == key;
    }
    check(writes == 1, key + " completed once (got " + std::to_string(writes) + ")");
  }
  for (const auto& e : events) {
    if (boost::json::serialize(e.data).find("not-a-secret") != std::string::npos) {
      check(false, "the API key appears in a stored " + e.type + " event");
    }
  }
  engine->close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    check_resume(argc, argv);
    check_kill_with_a_provider(argv[1], argv[2]);
    std::printf("%s\n", failures == 0 ? "PASS" : "FAILED");
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fatal(std::string("unexpected error: ") + e.what());
  }
}
