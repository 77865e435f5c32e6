// Deliveries across processes: a kill -9 between attempts resumes the
// delivery in the next process, and a dead delivery is re-sent from the CLI
// while another process runs the engine.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "storyloom/store_reader.h"
#include "storyloom/webhooks.h"
#include "subprocess.h"
#include "webhook_receiver.h"

namespace storyloom {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::WebhookReceiver;

class WebhookProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sl_webhook_process_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "hooks.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Subprocess> host(const std::string& url, int attempts, int timeout_ms, int backoff_ms) {
    return std::make_unique<Subprocess>(std::vector<std::string>{
        STORYLOOM_WEBHOOK_HOST, db_, url, std::to_string(attempts), std::to_string(timeout_ms),
        std::to_string(backoff_ms)});
  }

  // The subscription's log as a reader of the file sees it; empty until it exists.
  std::vector<WebhookDelivery> log() {
    try {
      auto reader = StoreReader::open(db_);
      return webhook_log(*reader, "orders");
    } catch (const Error&) {
      return {};
    }
  }

  bool wait_state(const std::string& state, size_t attempts) {
    for (int i = 0; i < 1000; ++i) {
      auto l = log();
      if (!l.empty() && l[0].state == state && l[0].attempts.size() >= attempts) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  std::filesystem::path dir_;
  std::string db_;
};

TEST_F(WebhookProcessTest, KillBetweenAttemptsResumesDeliveryInTheNextProcess) {
  WebhookReceiver receiver({500}, 200);
  // A 3 s backoff: the kill lands between the first and the second attempt.
  auto first = host(receiver.url(), 5, 2000, 3000);
  ASSERT_TRUE(wait_state("pending", 1)) << first->err();
  first->send_signal(SIGKILL);
  ASSERT_TRUE(first->wait(milliseconds(10000)));
  EXPECT_EQ(first->exit_code(), 128 + SIGKILL);
  EXPECT_EQ(receiver.requests().size(), 1u);

  auto second = host(receiver.url(), 5, 2000, 3000);
  ASSERT_TRUE(second->wait(milliseconds(60000))) << second->err();
  EXPECT_EQ(second->exit_code(), 0) << second->err();
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("webhook-id"), requests[1].header("webhook-id"));
  auto l = log();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].state, "delivered");
  ASSERT_EQ(l[0].attempts.size(), 2u);
  EXPECT_EQ(l[0].attempts[0].status, 500);
  EXPECT_EQ(l[0].attempts[1].status, 200);
}

TEST_F(WebhookProcessTest, DeadDeliveryIsResentFromTheCli) {
  WebhookReceiver receiver({WebhookReceiver::kHang, WebhookReceiver::kHang}, 200);
  auto engine = host(receiver.url(), 2, 300, 50);
  ASSERT_TRUE(wait_state("dead", 2)) << engine->err();
  EXPECT_EQ(receiver.requests().size(), 2u);

  Subprocess list({STORYLOOM_CLI_PATH, "--db", db_, "webhooks", "orders"});
  ASSERT_TRUE(list.wait(milliseconds(30000)));
  EXPECT_EQ(list.exit_code(), 0) << list.err();
  EXPECT_NE(list.out().find("\"state\":\"dead\""), std::string::npos) << list.out();
  EXPECT_EQ(list.out().find("whsec_"), std::string::npos);

  Subprocess wrong({STORYLOOM_CLI_PATH, "--db", db_, "resend", "no-such-run"});
  ASSERT_TRUE(wrong.wait(milliseconds(30000)));
  EXPECT_EQ(wrong.exit_code(), 1);
  EXPECT_NE(wrong.err().find("not_found"), std::string::npos) << wrong.err();

  Subprocess resend({STORYLOOM_CLI_PATH, "--db", db_, "resend", log()[0].run_id});
  ASSERT_TRUE(resend.wait(milliseconds(30000)));
  EXPECT_EQ(resend.exit_code(), 0) << resend.err();
  EXPECT_NE(resend.out().find("queued delivery"), std::string::npos) << resend.out();

  ASSERT_TRUE(engine->wait(milliseconds(60000))) << engine->err();
  EXPECT_EQ(engine->exit_code(), 0) << engine->err();
  EXPECT_EQ(receiver.requests().size(), 3u);
  auto l = log();
  EXPECT_EQ(l.at(0).state, "delivered");
  EXPECT_EQ(l[0].attempts.size(), 3u);
}

}  // namespace
}  // namespace storyloom
