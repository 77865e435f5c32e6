// The process kill_test.cc kills: opens an engine on DB, starts RUNS books
// (idempotent, so every incarnation asks for the same ones) and executes them
// until all are completed, then exits 0. Every step body first appends
// "<run id> <step>" to LOG and fsyncs it, so the log holds every time a body
// began, whatever happened next. On SIGTERM it closes the engine (the driver
// may kill it while it does) and exits 3.
//
//   kill_worker DB LOG RUNS
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "storyloom/engine.h"

using namespace storyloom;

namespace {

std::atomic<bool> terminate_requested{false};

void on_term(int) { terminate_requested = true; }

void log_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) std::abort();
  std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  if (::fsync(fd) != 0) std::abort();
  ::close(fd);
}

Json logged_step(Context& ctx, const std::string& log, const std::string& name, int64_t value) {
  return ctx.step(name, [&] {
    log_line(log, ctx.run_id() + " " + name);
    return Json(value);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: kill_worker DB LOG RUNS\n");
    return 2;
  }
  std::string db = argv[1];
  std::string log = argv[2];
  int runs = std::atoi(argv[3]);
  ::signal(SIGTERM, on_term);

  EngineOptions options;
  options.store = "sqlite:" + db;
  options.workers = 8;
  options.poll_interval = std::chrono::milliseconds(5);
  options.lease_ttl = std::chrono::milliseconds(2000);
  options.drain_timeout = std::chrono::milliseconds(200);
  auto engine = Engine::open(options);
  // A book: eight steps with a durable sleep, an artifact and a child run among them.
  engine->register_workflow("book", [log](Context& ctx, const Json& input) -> Json {
    int64_t n = input.at("n").as_int64();
    int64_t sum = 0;
    for (int k = 1; k <= 8; ++k) {
      sum += logged_step(ctx, log, "s" + std::to_string(k), n * k).as_int64();
      if (k == 3) ctx.sleep("nap", std::chrono::milliseconds(20));
      if (k == 5) ctx.artifact("page", boost::json::object{{"n", n}, {"sum", sum}});
      if (k == 6) {
        Json child = ctx.invoke("chapter", "chapter", boost::json::object{{"n", n}});
        sum += child.as_int64();
      }
    }
    return boost::json::object{{"sum", sum}};
  });
  engine->register_workflow("chapter", [log](Context& ctx, const Json& input) -> Json {
    int64_t n = input.at("n").as_int64();
    auto a = logged_step(ctx, log, "c1", n);
    auto b = logged_step(ctx, log, "c2", 1000);
    return Json(a.as_int64() + b.as_int64());
  });
  engine->launch();

  for (int i = 0; i < runs && !terminate_requested; ++i) {
    StartOptions start;
    start.idempotency_key = "book-" + std::to_string(i);
    engine->start("book", boost::json::object{{"n", i}}, start);
  }
  while (!terminate_requested) {
    RunFilter filter;
    filter.workflow = "book";
    filter.status = RunStatus::completed;
    filter.limit = 1000;
    int completed = 0;
    for (;;) {
      auto page = engine->list(filter);
      completed += static_cast<int>(page.runs.size());
      if (page.next_cursor.empty()) break;
      filter.after_run_id = page.next_cursor;
    }
    if (completed == runs) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  engine->close();
  return 3;
}
