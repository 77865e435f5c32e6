// The JSON API of `storyloom ui`: one request in, one response out, over a
// read-only StoreReader (every read) and, unless read-only, an Engine that
// never executes a run (cancel, retry, rewind, signal, priority, bulk retry).
// Routes are listed in inspector.cc. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/engine.h"
#include "storyloom/store_reader.h"

namespace storyloom::cli::ui {

struct ApiRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query, as sent
  std::string content_type;
  std::string body;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// A validated request for a run's live events (GET /api/runs/{id}/stream).
struct EventStreamRequest {
  std::string run_id;
  int64_t after_id = 0;
};

class Inspector {
 public:
  // `engine` is null in read-only mode: every action is then refused (403).
  Inspector(std::unique_ptr<StoreReader> reader, std::unique_ptr<Engine> engine);
  ~Inspector();

  bool read_only() const { return engine_ == nullptr; }

  // Answers every route but the event stream. Never throws: bad input is a
  // 4xx with {"error": message}, a store failure a 5xx.
  ApiResponse handle(const ApiRequest& request);

  // The event stream request named by `target`, if it is one (otherwise
  // nullopt). `last_event_id` is the Last-Event-ID header (a reconnecting
  // EventSource), which wins over ?after=. Throws ApiError for bad input or
  // an unknown run.
  std::optional<EventStreamRequest> event_stream(std::string_view method, std::string_view target,
                                                 std::string_view last_event_id);
  // Stored events of the run after `after_id`, at most 1000. Throws Error.
  std::vector<Event> events_after(const std::string& run_id, int64_t after_id);

  // Closes the engine (if any); later actions are refused.
  void close();

 private:
  ApiResponse route(const ApiRequest& request);
  std::string list_runs(std::string_view query);
  std::string limits(std::string_view query);
  std::string run_detail(const std::string& run_id);
  std::string run_events(const std::string& run_id, std::string_view query);
  std::string run_artifacts(const std::string& run_id);
  std::string run_action(const std::string& run_id, std::string_view action, const std::string& body);
  std::string retry_dead_letters(const std::string& body);
  Engine& engine_for(std::string_view action);

  std::mutex reader_mutex_;  // a StoreReader is one SQLite connection
  std::unique_ptr<StoreReader> reader_;
  std::mutex engine_mutex_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace storyloom::cli::ui
