// Helpers shared by the C ABI suites: owned copies of sl_* buffers, the last
// error as text, engines on temporary stores, workflows from C++ lambdas, and
// waiting for runs.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <set>
#include <string>
#include <string_view>

#include "storyloom/storyloom.h"

namespace capi_test {

using Json = boost::json::value;
using namespace std::chrono_literals;

// The calling thread's last error message.
std::string last_message();

// Copies an sl_* buffer and frees it.
std::string take(char* buffer);

// Parses the JSON an sl_* call handed out (status must be SL_OK) and frees it.
// `buffer` is read by reference: take_json(sl_x(&out, ...), out) is safe.
Json take_json(int status, char*& buffer);

// A store file in the temp directory, removed (with its WAL files) on destruction.
class TempStore {
 public:
  TempStore();
  ~TempStore();
  const std::string& path() const { return path_; }
  // What the engine opens: path() on SQLite, a fresh PostgreSQL schema when
  // STORYLOOM_TEST_STORE is set (the same one for the life of this object).
  const std::string& spec() const { return spec_; }

 private:
  std::string path_;
  std::string spec_;
};

// A test with an engine on a fresh file store and workflows written as lambdas.
class EngineTest : public ::testing::Test {
 protected:
  using Body = std::function<void(sl_execution*)>;

  void SetUp() override;
  void TearDown() override;

  // Options the fixture opens with: a file store and fast polling.
  sl_engine_options options();
  void open(const sl_engine_options& opts);
  void close();

  // Registers `name`; `body` runs on an engine thread for every execution.
  void workflow(const std::string& name, Body body, const sl_workflow_options* options = nullptr);
  Json start(const std::string& workflow, const std::string& input = "{}");
  Json get(const std::string& run_id);
  // Polls until the run is finished (or has `status`), for at most `limit`.
  Json wait_finished(const std::string& run_id, std::chrono::milliseconds limit = 5s);
  Json wait_status(const std::string& run_id, const std::string& status,
                   std::chrono::milliseconds limit = 5s);
  Json events(const std::string& run_id, int64_t after_id = 0);
  // Starts a run that parks waiting for a signal nobody sends; returns its id
  // once it is `waiting` (an unfinished run that holds no execution).
  std::string start_waiting(const std::string& workflow = "waits");

  TempStore store_;
  sl_engine* engine_ = nullptr;

 private:
  std::list<Body> bodies_;  // user_data of registered workflows; outlive the engine
  std::set<std::string> waiting_workflows_;  // registered by start_waiting
};

// The synchronous pattern of plain C hosts: a memoized step around `fn`.
std::string step(sl_execution* execution, const std::string& name,
                 const std::function<std::string()>& fn);
std::string input_of(const sl_execution* execution);
std::string run_id_of(const sl_execution* execution);
// Finishes with `output`; expects success.
void complete(sl_execution* execution, const std::string& output = "{}");

}  // namespace capi_test
