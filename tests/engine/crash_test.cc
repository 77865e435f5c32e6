// A second process: crash recovery after SIGKILL, and cancel/signal sent from
// another process to a running engine.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "support/test_support.h"

using namespace storyloom;
using namespace storyloom::testing;
using namespace std::chrono_literals;

namespace {

void append_line(const std::string& path, const std::string& line) {
  std::ofstream(path, std::ios::app) << line << "\n" << std::flush;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int count_lines(const std::string& path, const std::string& line) {
  std::istringstream in(read_file(path));
  int n = 0;
  for (std::string l; std::getline(in, l);) n += l == line;
  return n;
}

// The run id the child wrote, once its whole line is there ("" if it never is).
std::string wait_run_id(const std::string& path) {
  std::string text;
  eventually([&] {
    text = read_file(path);
    return !text.empty() && text.back() == '\n';
  });
  if (text.empty() || text.back() != '\n') return "";
  text.pop_back();
  return text;
}

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Registers "book": step a, step b (which hangs when `hang`), step c.
void register_book(Engine& engine, const std::string& log, bool hang) {
  engine.register_workflow("book", [=](Context& ctx, const Json&) -> Json {
    auto a = ctx.step("a", [&] { append_line(log, "a"); return Json("outline"); });
    auto b = ctx.step("b", [&] {
      append_line(log, "b");
      while (hang) std::this_thread::sleep_for(10ms);
      return Json("page");
    });
    auto c = ctx.step("c", [&] { append_line(log, "c"); return Json("end"); });
    return boost::json::array{a, b, c};
  });
}

// Forks a child that runs `body` and never returns.
template <typename Body>
pid_t spawn(Body body) {
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  return pid;
}

}  // namespace

TEST(Crash, KilledProcessResumesWithoutRedoingCompletedSteps) {
  TempDir dir;
  auto db = dir.file("crash.db");
  auto log = dir.file("steps.log");
  auto id_file = dir.file("run.id");
  pid_t child = spawn([&] {
    auto engine = Engine::open(fast_options(db));
    engine->launch();
    register_book(*engine, log, /*hang=*/true);
    auto run = engine->start("book", boost::json::object{}, {"book-1", "", 0});
    append_line(id_file, run.id);
    for (;;) pause();
  });
  ASSERT_GT(child, 0);
  // The run may reach step b before the child has written its id: wait for both.
  ASSERT_TRUE(eventually([&] { return count_lines(log, "b") == 1; }));
  std::string run_id = wait_run_id(id_file);
  ASSERT_FALSE(run_id.empty());
  {
    // Another process's view: step a is committed before we pull the plug.
    auto observer = Engine::open(fast_options(db));
    ASSERT_TRUE(eventually([&] { return observer->snapshot(run_id).steps.size() == 1; }));
    EXPECT_EQ(observer->get(run_id).status, RunStatus::running);
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  auto engine = Engine::open(fast_options(db));
  engine->launch();
  register_book(*engine, log, /*hang=*/false);
  auto done = wait_finished(*engine, run_id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(boost::json::serialize(done.output), R"(["outline","page","end"])");
  EXPECT_EQ(count_lines(log, "a"), 1);  // completed before the crash: not run again
  EXPECT_EQ(count_lines(log, "b"), 2);  // in flight at the crash: at-least-once
  EXPECT_EQ(count_lines(log, "c"), 1);
  bool recovered = false;
  for (const auto& e : engine->events(run_id, 0)) recovered = recovered || e.type == "run.recovered";
  EXPECT_TRUE(recovered);
  // The idempotency key still finds the same run.
  EXPECT_EQ(engine->start("book", boost::json::object{}, {"book-1", "", 0}).id, run_id);
}

TEST(Crash, CancelFromAnotherProcessIsNoticedQuickly) {
  TempDir dir;
  auto db = dir.file("cancel.db");
  auto id_file = dir.file("run.id");
  auto noticed_file = dir.file("noticed");
  pid_t child = spawn([&] {
    EngineOptions o;  // default poll interval: what users get
    o.store = db;
    auto engine = Engine::open(o);
    engine->launch();
    engine->register_workflow("busy", [&](Context& ctx, const Json&) -> Json {
      ctx.step("spin", [&] {
        while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
        append_line(noticed_file, std::to_string(monotonic_ns()));
        return Json(nullptr);
      });
      return nullptr;
    });
    append_line(id_file, engine->start("busy", boost::json::object{}).id);
    for (;;) pause();
  });
  std::string run_id = wait_run_id(id_file);
  ASSERT_FALSE(run_id.empty());
  auto other = Engine::open(fast_options(db));
  other->launch();
  wait_status(*other, run_id, RunStatus::running);
  int64_t sent = monotonic_ns();
  other->cancel(run_id);
  ASSERT_TRUE(eventually([&] { return !read_file(noticed_file).empty(); }, 5s));
  int64_t noticed = std::stoll(read_file(noticed_file));
  double ms = static_cast<double>(noticed - sent) / 1e6;
  std::printf("cross-process cancel noticed after %.1f ms\n", ms);
  EXPECT_LT(ms, 1000.0);  // the design figure is 200 ms; this bound only catches a broken path
  EXPECT_EQ(other->get(run_id).status, RunStatus::cancelled);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

TEST(Crash, SignalAndStartFromAnotherProcessWakeTheEngine) {
  TempDir dir;
  auto db = dir.file("signal.db");
  auto id_file = dir.file("run.id");
  pid_t child = spawn([&] {
    auto engine = Engine::open(fast_options(db));
    engine->launch();
    engine->register_workflow("approval", [](Context& ctx, const Json&) -> Json {
      return *ctx.wait_for_signal("approve");
    });
    append_line(id_file, engine->start("approval", boost::json::object{}).id);
    for (;;) pause();
  });
  std::string run_id = wait_run_id(id_file);
  ASSERT_FALSE(run_id.empty());
  auto other = Engine::open(fast_options(db));
  other->launch();
  wait_status(*other, run_id, RunStatus::waiting);
  other->signal(run_id, "approve", boost::json::object{{"edits", "none"}});
  auto done = wait_finished(*other, run_id);
  EXPECT_EQ(done.status, RunStatus::completed);
  EXPECT_EQ(done.output.at("edits").as_string(), "none");
  // This process has no "approval" workflow: the child's engine executes the run.
  auto started = other->start("approval", boost::json::object{});
  wait_status(*other, started.id, RunStatus::waiting);
  other->signal(started.id, "approve", Json(7));
  EXPECT_EQ(wait_finished(*other, started.id).output.as_int64(), 7);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

namespace {

// A saga: book, charge (which fails for good), and when the charge fails a
// refund that compensates; `hang` holds the refund so the process can be killed
// between the failure and the compensation.
void register_saga(Engine& engine, const std::string& log, bool hang) {
  engine.register_workflow("trip", [=](Context& ctx, const Json&) -> Json {
    ctx.step("book", [&] { append_line(log, "book"); return Json("booked"); });
    try {
      ctx.step("charge", [&]() -> Json {
        append_line(log, "charge");
        throw Error(ErrorCode::step_failed, "card declined", ErrorClass::fatal);
      });
    } catch (const Error& e) {
      auto refund = ctx.step("refund", [&] {
        append_line(log, "refund");
        while (hang) std::this_thread::sleep_for(10ms);
        return Json("refunded");
      });
      return boost::json::object{{"outcome", refund}, {"because", e.what()}};
    }
    return boost::json::object{{"outcome", "charged"}};
  });
}

}  // namespace

TEST(Crash, ASagaCompensatesAfterAKillBetweenTheFailureAndTheCompensation) {
  TempDir dir;
  auto db = dir.file("saga.db");
  auto log = dir.file("steps.log");
  auto id_file = dir.file("run.id");
  pid_t child = spawn([&] {
    auto engine = Engine::open(fast_options(db));
    register_saga(*engine, log, /*hang=*/true);
    engine->launch();
    auto run = engine->start("trip", boost::json::object{});
    append_line(id_file, run.id);
    for (;;) pause();
  });
  ASSERT_GT(child, 0);
  ASSERT_TRUE(eventually([&] { return count_lines(log, "refund") == 1; }));
  std::string run_id = wait_run_id(id_file);
  ASSERT_FALSE(run_id.empty());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  auto engine = Engine::open(fast_options(db));
  register_saga(*engine, log, /*hang=*/false);
  engine->launch();
  auto done = wait_finished(*engine, run_id);
  ASSERT_EQ(done.status, RunStatus::completed) << boost::json::serialize(done.error);
  EXPECT_EQ(done.output.at("outcome"), "refunded");
  EXPECT_EQ(done.output.at("because"), "card declined");
  EXPECT_EQ(count_lines(log, "book"), 1);
  EXPECT_EQ(count_lines(log, "charge"), 1);  // failed for good: its failure is replayed, not retried
  EXPECT_EQ(count_lines(log, "refund"), 2);  // in flight at the kill: at-least-once
  auto snap = engine->snapshot(run_id);
  ASSERT_EQ(snap.steps.size(), 3u);
  EXPECT_EQ(snap.steps[1].status, "failed");
  EXPECT_EQ(snap.steps[1].result.at("message"), "card declined");
}

TEST(Crash, AStepErrorThatEscapesTheWorkflowFailsTheRunNamingTheStep) {
  auto engine = Engine::open(fast_options());
  engine->register_workflow("w", [](Context& ctx, const Json&) -> Json {
    ctx.step("ok", [] { return Json(1); });
    ctx.step("bad", []() -> Json { throw Error(ErrorCode::step_failed, "no", ErrorClass::fatal); });
    return nullptr;
  });
  engine->launch();
  auto done = wait_finished(*engine, engine->start("w", boost::json::object{}).id);
  ASSERT_EQ(done.status, RunStatus::failed);
  EXPECT_EQ(done.error.at("step"), "bad");
  EXPECT_EQ(done.error.at("message"), "no");
}
