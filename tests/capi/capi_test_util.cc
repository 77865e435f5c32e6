#include "capi_test_util.h"

#include "test_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace capi_test {

std::string last_message() {
  const char* msg = nullptr;
  size_t len = 0;
  sl_last_error_message(&msg, &len);
  return std::string(msg, len);
}

std::string take(char* buffer) {
  std::string out = buffer == nullptr ? std::string() : std::string(buffer);
  sl_free(buffer);
  return out;
}

Json take_json(int status, char*& buffer) {
  std::string text = take(buffer);
  EXPECT_EQ(status, SL_OK) << last_message();
  if (status != SL_OK) return nullptr;
  return boost::json::parse(text);
}

TempStore::TempStore() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "store";
  path_ = (std::filesystem::temp_directory_path() /
           ("storyloom-capi-" + name + "-" + std::to_string(getpid()) + "-" +
            std::to_string(counter++) + ".db"))
              .string();
  spec_ = storyloom::testing::test_store(path_);
}

TempStore::~TempStore() {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    std::filesystem::remove(path_ + suffix, ec);
  }
}

void EngineTest::SetUp() { open(options()); }

void EngineTest::TearDown() { close(); }

sl_engine_options EngineTest::options() {
  sl_engine_options opts = SL_ENGINE_OPTIONS_INIT;
  opts.store = store_.spec().c_str();
  opts.store_len = store_.spec().size();
  opts.poll_interval_ms = 5;
  opts.drain_timeout_ms = 2000;
  return opts;
}

void EngineTest::open(const sl_engine_options& opts) {
  ASSERT_EQ(sl_engine_open(&engine_, &opts), SL_OK) << last_message();
}

void EngineTest::close() {
  sl_engine_close(engine_);
  engine_ = nullptr;
}

void EngineTest::workflow(const std::string& name, Body body, const sl_workflow_options* options) {
  bodies_.push_back(std::move(body));
  auto trampoline = [](void* user_data, sl_execution* execution) {
    (*static_cast<Body*>(user_data))(execution);
  };
  ASSERT_EQ(sl_engine_register_workflow(engine_, name.data(), name.size(), options, trampoline,
                                        &bodies_.back()),
            SL_OK)
      << last_message();
  // Launched once a workflow is registered (later ones are executed too).
  ASSERT_EQ(sl_engine_launch(engine_), SL_OK) << last_message();
}

Json EngineTest::start(const std::string& workflow, const std::string& input) {
  char* out = nullptr;
  int status = sl_engine_start(&out, nullptr, engine_, workflow.data(), workflow.size(),
                               input.data(), input.size(), nullptr);
  return take_json(status, out);
}

Json EngineTest::get(const std::string& run_id) {
  char* out = nullptr;
  return take_json(sl_engine_get_run(&out, nullptr, engine_, run_id.data(), run_id.size()), out);
}

Json EngineTest::wait_status(const std::string& run_id, const std::string& status,
                             std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    Json run = get(run_id);
    if (run.is_null()) return run;
    std::string now(run.at("status").as_string());
    bool finished = now == "completed" || now == "failed" || now == "cancelled";
    if (now == status || (status.empty() && finished) ||
        std::chrono::steady_clock::now() > deadline) {
      return run;
    }
    std::this_thread::sleep_for(2ms);
  }
}

Json EngineTest::wait_finished(const std::string& run_id, std::chrono::milliseconds limit) {
  return wait_status(run_id, "", limit);
}

Json EngineTest::events(const std::string& run_id, int64_t after_id) {
  char* out = nullptr;
  return take_json(
      sl_engine_events(&out, nullptr, engine_, run_id.data(), run_id.size(), after_id, 0), out);
}

std::string EngineTest::start_waiting(const std::string& name) {
  if (waiting_workflows_.insert(name).second) {
    workflow(name, [](sl_execution* e) {
      int state = -1;
      char* payload = nullptr;
      EXPECT_EQ(sl_execution_wait_for_signal(&state, &payload, nullptr, e, "never", 5, -1), SL_OK)
          << last_message();
      sl_free(payload);
      EXPECT_EQ(sl_execution_finish_parked(e), SL_OK) << last_message();
    });
  }
  Json run = start(name);
  std::string id(run.at("id").as_string());
  EXPECT_EQ(wait_status(id, "waiting").at("status"), "waiting");
  return id;
}

std::string step(sl_execution* execution, const std::string& name,
                 const std::function<std::string()>& fn) {
  int64_t seq = -1;
  int memoized = 0;
  char* result = nullptr;
  int status = sl_execution_step_begin(&seq, &memoized, &result, nullptr, execution, name.data(),
                                       name.size());
  EXPECT_EQ(status, SL_OK) << last_message();
  if (memoized) return take(result);
  std::string value = fn();
  EXPECT_EQ(sl_execution_step_complete(execution, seq, value.data(), value.size()), SL_OK)
      << last_message();
  return value;
}

std::string input_of(const sl_execution* execution) {
  const char* text = nullptr;
  size_t len = 0;
  EXPECT_EQ(sl_execution_input(&text, &len, execution), SL_OK) << last_message();
  return std::string(text, len);
}

std::string run_id_of(const sl_execution* execution) {
  const char* text = nullptr;
  size_t len = 0;
  EXPECT_EQ(sl_execution_run_id(&text, &len, execution), SL_OK) << last_message();
  return std::string(text, len);
}

void complete(sl_execution* execution, const std::string& output) {
  EXPECT_EQ(sl_execution_finish_completed(execution, output.data(), output.size()), SL_OK)
      << last_message();
}

}  // namespace capi_test
