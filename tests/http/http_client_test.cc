#include "http/http_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/loopback_server.h"

namespace storyloom::detail {

// Test-only: failures show the kind's name, not its bytes.
void PrintTo(HttpOutcome::Kind kind, std::ostream* os) {
  switch (kind) {
    case HttpOutcome::Kind::completed:
      *os << "completed";
      return;
    case HttpOutcome::Kind::cancelled:
      *os << "cancelled";
      return;
    case HttpOutcome::Kind::connect_failed:
      *os << "connect_failed";
      return;
    case HttpOutcome::Kind::idle_timeout:
      *os << "idle_timeout";
      return;
    case HttpOutcome::Kind::total_timeout:
      *os << "total_timeout";
      return;
    case HttpOutcome::Kind::network_error:
      *os << "network_error";
      return;
  }
  *os << "kind " << static_cast<int>(kind);
}

namespace {

using namespace std::chrono_literals;
using storyloom::testing_http::chunk;
using storyloom::testing_http::kLastChunk;
using storyloom::testing_http::LoopbackConnection;
using storyloom::testing_http::LoopbackRequest;
using storyloom::testing_http::LoopbackServer;
using storyloom::testing_http::unused_port;
using Kind = HttpOutcome::Kind;

constexpr std::string_view kSecret = "test-key-not-a-secret";
constexpr std::string_view kBodySecret = "test-body-not-a-secret";

// What one transfer's callbacks saw, in order, for the test thread to wait on.
class Recorder {
 public:
  HttpCallbacks callbacks() {
    HttpCallbacks callbacks;
    callbacks.on_head = [this](const HttpResponseHead& head) {
      std::lock_guard lock(mu_);
      log_.push_back("head");
      head_ = head;
      thread_ = std::this_thread::get_id();
      changed_.notify_all();
    };
    callbacks.on_body = [this](std::string_view bytes) {
      std::lock_guard lock(mu_);
      log_.push_back("body");
      body_.append(bytes);
      changed_.notify_all();
    };
    callbacks.on_done = [this](const HttpOutcome& outcome) {
      std::lock_guard lock(mu_);
      log_.push_back("done");
      outcome_ = outcome;
      thread_ = std::this_thread::get_id();
      changed_.notify_all();
    };
    return callbacks;
  }

  // Waits until `ready()` (called under the recorder's lock) holds.
  template <typename Ready>
  bool wait_for(Ready ready, std::chrono::milliseconds limit = 1500ms) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, limit, [&] { return ready(*this); });
  }
  bool wait_done(std::chrono::milliseconds limit = 1500ms) {
    return wait_for([](const Recorder& r) { return r.count_locked("done") > 0; }, limit);
  }
  bool wait_body_size(size_t size) {
    return wait_for([size](const Recorder& r) { return r.body_.size() >= size; });
  }
  bool wait_for_any() {
    return wait_for([](const Recorder& r) { return !r.log_.empty(); });
  }

  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  int count(std::string_view what) const {
    std::lock_guard lock(mu_);
    return count_locked(what);
  }
  std::string body() const {
    std::lock_guard lock(mu_);
    return body_;
  }
  HttpResponseHead head() const {
    std::lock_guard lock(mu_);
    return head_;
  }
  HttpOutcome outcome() const {
    std::lock_guard lock(mu_);
    return outcome_;
  }
  std::thread::id thread() const {
    std::lock_guard lock(mu_);
    return thread_;
  }

 private:
  int count_locked(std::string_view what) const {
    return static_cast<int>(std::count(log_.begin(), log_.end(), what));
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> log_;
  HttpResponseHead head_;
  std::string body_;
  HttpOutcome outcome_;
  std::thread::id thread_;
};

HttpRequest chat_request(const std::string& url) {
  HttpRequest request;
  request.url = url;
  request.headers = {{"Content-Type", "application/json"},
                     {"Authorization", "Bearer " + std::string(kSecret)}};
  request.body = "{\"stream\":true,\"note\":\"" + std::string(kBodySecret) + "\"}";
  request.connect_timeout = 1000ms;
  request.idle_timeout = 1000ms;
  return request;
}

void expect_no_secrets(const HttpOutcome& outcome) {
  EXPECT_EQ(outcome.message.find(kSecret), std::string::npos) << outcome.message;
  EXPECT_EQ(outcome.message.find(kBodySecret), std::string::npos) << outcome.message;
}

std::string port_text(const LoopbackServer& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

constexpr std::string_view kChunkedHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

// A request the server saw, handed to the test thread.
struct SeenRequest {
  std::mutex mu;
  std::optional<LoopbackRequest> request;
  void set(LoopbackRequest r) {
    std::lock_guard lock(mu);
    request = std::move(r);
  }
  std::optional<LoopbackRequest> get() {
    std::lock_guard lock(mu);
    return request;
  }
};

TEST(HttpClient, StreamsEachPieceBeforeTheNextIsSent) {
  const std::vector<std::string> pieces = {"data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n",
                                           "data: [DONE]\n\n"};
  Recorder recorder;
  SeenRequest seen;
  LoopbackServer server([&](LoopbackConnection& c) {
    auto request = c.read_request();
    if (!request) return;
    seen.set(*request);
    c.send(kChunkedHead);
    size_t sent = 0;
    for (const std::string& piece : pieces) {
      c.send(chunk(piece));
      sent += piece.size();
      // The next piece goes only once the client handed this one on.
      if (!recorder.wait_body_size(sent)) return;
      LoopbackConnection::pause(10ms);
    }
    c.send(kLastChunk);
  });
  HttpClient client;
  HttpRequest request = chat_request(server.url("/v1/chat/completions"));
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  const HttpOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.kind, Kind::completed) << outcome.message;
  EXPECT_EQ(outcome.status, 200);
  EXPECT_EQ(recorder.body(), pieces[0] + pieces[1] + pieces[2]);
  const std::vector<std::string> log = recorder.log();
  ASSERT_GE(log.size(), 5u);
  EXPECT_EQ(log.front(), "head");
  EXPECT_EQ(log.back(), "done");
  EXPECT_EQ(std::count(log.begin(), log.end(), "head"), 1);
  EXPECT_GE(std::count(log.begin(), log.end(), "body"), 3);
  EXPECT_NE(recorder.thread(), std::this_thread::get_id());
  EXPECT_EQ(recorder.head().header("content-type"), "text/event-stream");
  EXPECT_EQ(client.transfers_in_flight(), 0u);

  const auto received = seen.get();
  ASSERT_TRUE(received);
  EXPECT_EQ(received->method, "POST");
  EXPECT_EQ(received->target, "/v1/chat/completions");
  EXPECT_EQ(received->body, request.body);
  EXPECT_EQ(received->header("authorization"), "Bearer " + std::string(kSecret));
  EXPECT_EQ(received->header("content-type"), "application/json");
  EXPECT_FALSE(received->has_header("expect"));
}

TEST(HttpClient, HeadersAreLowercasedAndTrimmed) {
  const std::string body = "{\"error\":{\"message\":\"Rate limit reached\"}}";
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send(
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\n"
        "X-RateLimit-Reset-Requests:\t1s\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  const HttpResponseHead head = recorder.head();
  EXPECT_EQ(head.status, 429);
  EXPECT_EQ(head.header("retry-after"), "7");
  EXPECT_EQ(head.header("x-ratelimit-reset-requests"), "1s");
  EXPECT_EQ(head.header("content-type"), "application/json");
  EXPECT_EQ(head.header("x-absent"), "");
  for (const auto& [name, value] : head.headers) {
    EXPECT_TRUE(std::none_of(name.begin(), name.end(), [](char c) { return std::isupper(c); }))
        << name;
  }
  EXPECT_EQ(recorder.body(), body);
  EXPECT_EQ(recorder.outcome().kind, Kind::completed);
  EXPECT_EQ(recorder.outcome().status, 429);
}

TEST(HttpClient, ServerErrorBodyIsDelivered) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send("HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send(chunk("{\"error\":"));
    LoopbackConnection::pause(10ms);
    c.send(chunk("\"overloaded\"}"));
    c.send(kLastChunk);
  });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.body(), "{\"error\":\"overloaded\"}");
  EXPECT_EQ(recorder.outcome().kind, Kind::completed);
  EXPECT_EQ(recorder.outcome().status, 500);
  EXPECT_EQ(recorder.log().front(), "head");
}

TEST(HttpClient, InterimContinueIsNotTheHead) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n");
    c.send("HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok");
  });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.count("head"), 1);
  EXPECT_EQ(recorder.head().status, 200);
  EXPECT_EQ(recorder.head().header("x-final"), "yes");
  EXPECT_EQ(recorder.head().header("x-interim"), "");
  EXPECT_EQ(recorder.body(), "ok");
  EXPECT_EQ(recorder.outcome().kind, Kind::completed);
}

TEST(HttpClient, RedirectIsNotFollowed) {
  Recorder recorder;
  std::atomic<int> requests{0};
  LoopbackServer server([&](LoopbackConnection& c) {
    while (c.read_request()) {
      ++requests;
      c.send("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
    }
  });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::completed);
  EXPECT_EQ(recorder.outcome().status, 302);
  EXPECT_EQ(recorder.head().header("location"), "/elsewhere");
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"head", "done"}));
  EXPECT_EQ(requests.load(), 1);
}

TEST(HttpClient, EmptyBodyStillGetsItsHeadFirst) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send("HTTP/1.1 204 No Content\r\nX-Request-Id: r1\r\n\r\n");
  });
  HttpClient client;
  HttpRequest request = chat_request(server.url());
  request.method = "GET";
  request.body.clear();
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"head", "done"}));
  EXPECT_EQ(recorder.head().header("x-request-id"), "r1");
  EXPECT_EQ(recorder.outcome().status, 204);
}

TEST(HttpClient, LargeBodyIsSentAtOnceWithoutExpect) {
  Recorder recorder;
  SeenRequest seen;
  LoopbackServer server([&](LoopbackConnection& c) {
    auto request = c.read_request();
    if (!request) return;
    seen.set(*request);
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  HttpClient client;
  HttpRequest request = chat_request(server.url());
  request.body = std::string(2 << 20, 'x');
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::completed) << recorder.outcome().message;
  const auto received = seen.get();
  ASSERT_TRUE(received);
  EXPECT_FALSE(received->has_header("expect"));
  EXPECT_EQ(received->body.size(), request.body.size());
}

TEST(HttpClient, RefusedConnectionIsConnectFailed) {
  Recorder recorder;
  HttpClient client;
  const int port = unused_port();
  client.start(chat_request("http://127.0.0.1:" + std::to_string(port) + "/v1?key=test-query-value"),
               recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  const HttpOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.kind, Kind::connect_failed) << outcome.message;
  EXPECT_EQ(outcome.status, 0);
  EXPECT_NE(outcome.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << outcome.message;
  EXPECT_EQ(outcome.message.find("test-query-value"), std::string::npos) << outcome.message;
  expect_no_secrets(outcome);
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"done"}));
}

TEST(HttpClient, CutChunkedBodyIsNetworkError) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send(kChunkedHead);
    c.send(chunk("data: partial\n\n"));
    if (!recorder.wait_body_size(15)) return;
    c.close();
  });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  const HttpOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.kind, Kind::network_error) << outcome.message;
  EXPECT_EQ(outcome.status, 200);
  EXPECT_EQ(recorder.body(), "data: partial\n\n");
  EXPECT_NE(outcome.message.find(port_text(server)), std::string::npos) << outcome.message;
  expect_no_secrets(outcome);
}

TEST(HttpClient, ShortContentLengthIsNetworkError) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
  });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::network_error) << recorder.outcome().message;
  EXPECT_EQ(recorder.body(), "only ten b");
  expect_no_secrets(recorder.outcome());
}

TEST(HttpClient, NoResponseAtAllIsNetworkError) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) { c.read_request(); });
  HttpClient client;
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::network_error) << recorder.outcome().message;
  EXPECT_EQ(recorder.outcome().status, 0);
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"done"}));
  expect_no_secrets(recorder.outcome());
}

TEST(HttpClient, SilentServerAfterHeadHitsIdleTimeout) {
  Recorder recorder;
  std::atomic<bool> hung_up{false};
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send(kChunkedHead);
    c.send(chunk(": OPENROUTER PROCESSING\n\n"));
    hung_up = c.wait_for_hangup(1500ms);
  });
  HttpClient client;
  HttpRequest request = chat_request(server.url());
  request.idle_timeout = 300ms;
  const auto began = std::chrono::steady_clock::now();
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  const auto took = std::chrono::steady_clock::now() - began;
  const HttpOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.kind, Kind::idle_timeout) << outcome.message;
  EXPECT_EQ(outcome.status, 200);
  EXPECT_NE(outcome.message.find("no data for 300 ms"), std::string::npos) << outcome.message;
  EXPECT_NE(outcome.message.find(port_text(server)), std::string::npos) << outcome.message;
  expect_no_secrets(outcome);
  EXPECT_GE(took, 280ms);
  EXPECT_LT(took, 1200ms);
  // The transfer was dropped, so its connection closed.
  for (int i = 0; i < 100 && !hung_up; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(hung_up);
}

TEST(HttpClient, ServerThatNeverAnswersHitsIdleTimeout) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.wait_for_hangup(1500ms);
  });
  HttpClient client;
  HttpRequest request = chat_request(server.url());
  request.idle_timeout = 200ms;
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::idle_timeout) << recorder.outcome().message;
  EXPECT_EQ(recorder.outcome().status, 0);
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"done"}));
}

TEST(HttpClient, SteadyTrickleHitsTotalTimeout) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    if (!c.send(kChunkedHead)) return;
    for (int i = 0; i < 200 && c.send(chunk("data: tick\n\n")); ++i) {
      LoopbackConnection::pause(20ms);
    }
  });
  HttpClient client;
  HttpRequest request = chat_request(server.url());
  request.idle_timeout = 1000ms;
  request.total_timeout = 300ms;
  const auto began = std::chrono::steady_clock::now();
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  const auto took = std::chrono::steady_clock::now() - began;
  const HttpOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.kind, Kind::total_timeout) << outcome.message;
  EXPECT_EQ(outcome.status, 200);
  EXPECT_NE(outcome.message.find("within 300 ms"), std::string::npos) << outcome.message;
  expect_no_secrets(outcome);
  EXPECT_GE(recorder.count("body"), 2);
  EXPECT_LT(took, 1200ms);
}

TEST(HttpClient, CancelFromAnotherThreadEndsOnceWithNoBodyAfter) {
  Recorder recorder;
  std::atomic<bool> hung_up{false};
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    if (!c.send(kChunkedHead)) return;
    for (int i = 0; i < 300 && c.send(chunk("data: more\n\n")); ++i) {
      LoopbackConnection::pause(5ms);
    }
    hung_up = c.wait_for_hangup(1500ms);
  });
  HttpClient client;
  auto transfer = client.start(chat_request(server.url()), recorder.callbacks());
  ASSERT_TRUE(recorder.wait_body_size(36));

  std::thread canceller([&] { transfer->cancel(); });
  canceller.join();
  ASSERT_TRUE(recorder.wait_done());
  std::this_thread::sleep_for(50ms);  // room for a stray callback to show up
  transfer->cancel();                 // again, after the end: nothing happens

  const std::vector<std::string> log = recorder.log();
  EXPECT_EQ(log.back(), "done");
  EXPECT_EQ(std::count(log.begin(), log.end(), "done"), 1);
  EXPECT_EQ(recorder.outcome().kind, Kind::cancelled);
  EXPECT_EQ(recorder.outcome().status, 200);
  EXPECT_EQ(client.transfers_in_flight(), 0u);
  for (int i = 0; i < 100 && !hung_up; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(hung_up);
}

TEST(HttpClient, CancelRightAfterStartEndsOnce) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.wait_for_hangup(1500ms);
  });
  HttpClient client;
  auto transfer = client.start(chat_request(server.url()), recorder.callbacks());
  transfer->cancel();
  transfer->cancel();

  ASSERT_TRUE(recorder.wait_done());
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"done"}));
  EXPECT_EQ(recorder.outcome().kind, Kind::cancelled);
}

TEST(HttpClient, CancelAfterTheEndChangesNothing) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  HttpClient client;
  auto transfer = client.start(chat_request(server.url()), recorder.callbacks());
  ASSERT_TRUE(recorder.wait_done());
  transfer->cancel();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(recorder.count("done"), 1);
  EXPECT_EQ(recorder.outcome().kind, Kind::completed);
}

TEST(HttpClient, CloseCancelsTransfersInFlightAndDropsTimers) {
  constexpr int kTransfers = 5;
  std::vector<Recorder> recorders(kTransfers);
  std::atomic<bool> timer_ran{false};
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send(kChunkedHead);
    c.wait_for_hangup(1500ms);
  });
  HttpClient client;
  for (Recorder& recorder : recorders)
    client.start(chat_request(server.url()), recorder.callbacks());
  for (Recorder& recorder : recorders) {
    ASSERT_TRUE(recorder.wait_for_any());
  }
  client.run_after(60s, [&] { timer_ran = true; });
  EXPECT_EQ(client.transfers_in_flight(), static_cast<size_t>(kTransfers));

  client.close();
  for (Recorder& recorder : recorders) {
    EXPECT_EQ(recorder.log(), (std::vector<std::string>{"head", "done"}));
    EXPECT_EQ(recorder.outcome().kind, Kind::cancelled);
  }
  EXPECT_EQ(client.transfers_in_flight(), 0u);
  client.close();  // idempotent
  EXPECT_FALSE(timer_ran);
}

TEST(HttpClient, StartAfterCloseCancelsOnTheCallingThread) {
  Recorder recorder;
  HttpClient client;
  client.close();
  std::atomic<bool> timer_ran{false};
  client.run_after(0ms, [&] { timer_ran = true; });
  auto transfer = client.start(chat_request("http://127.0.0.1:9/"), recorder.callbacks());

  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"done"}));  // before start() returned
  EXPECT_EQ(recorder.thread(), std::this_thread::get_id());
  EXPECT_EQ(recorder.outcome().kind, Kind::cancelled);
  transfer->cancel();
  EXPECT_EQ(recorder.count("done"), 1);
  EXPECT_EQ(client.transfers_in_flight(), 0u);
  EXPECT_FALSE(timer_ran);
}

TEST(HttpClient, RunAfterRunsByDeadlineOnTheIoThread) {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<char> order;
  std::vector<std::thread::id> threads;
  HttpClient client;
  const auto record = [&](char name) {
    return [&, name] {
      std::lock_guard lock(mu);
      order.push_back(name);
      threads.push_back(std::this_thread::get_id());
      changed.notify_all();
    };
  };
  client.run_after(60ms, record('a'));
  client.run_after(20ms, record('b'));
  client.run_after(40ms, record('c'));
  client.run_after(0ms, record('d'));
  client.run_after(20ms, record('e'));  // the same deadline as 'b' (or later): after it

  std::unique_lock lock(mu);
  ASSERT_TRUE(changed.wait_for(lock, 1500ms, [&] { return order.size() == 5; }));
  EXPECT_EQ(std::string(order.begin(), order.end()), "dbeca");
  for (const std::thread::id& id : threads) {
    EXPECT_EQ(id, threads.front());
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

TEST(HttpClient, CallbacksMayStartTransfersAndTimers) {
  Recorder first;
  Recorder second;
  std::atomic<bool> timer_ran{false};
  LoopbackServer server([&](LoopbackConnection& c) {
    while (c.read_request()) c.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  HttpClient client;
  HttpCallbacks callbacks = first.callbacks();
  callbacks.on_done = [&, record = callbacks.on_done](const HttpOutcome& outcome) {
    client.run_after(0ms, [&] { timer_ran = true; });
    client.start(chat_request(server.url("/second")), second.callbacks());
    record(outcome);
  };
  client.start(chat_request(server.url("/first")), std::move(callbacks));

  ASSERT_TRUE(second.wait_done());
  EXPECT_EQ(first.outcome().kind, Kind::completed);
  EXPECT_EQ(second.outcome().kind, Kind::completed);
  EXPECT_EQ(second.body(), "ok");
  for (int i = 0; i < 100 && !timer_ran; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(timer_ran);
}

TEST(HttpClient, FiftyConcurrentTransfersAllComplete) {
  constexpr int kTransfers = 50;
  std::vector<Recorder> recorders(kTransfers);
  std::mutex mu;
  std::condition_variable all_in;
  int requests = 0;
  LoopbackServer server([&](LoopbackConnection& c) {
    while (auto request = c.read_request()) {
      {
        // Nobody is answered until every request is in: they are all in flight at once.
        std::unique_lock lock(mu);
        ++requests;
        all_in.notify_all();
        all_in.wait_for(lock, 1500ms, [&] { return requests >= kTransfers; });
      }
      c.send(kChunkedHead);
      c.send(chunk("reply to "));
      c.send(chunk(request->target));
      c.send(kLastChunk);
    }
  });
  HttpClient client;
  for (int i = 0; i < kTransfers; ++i) {
    HttpRequest request = chat_request(server.url("/" + std::to_string(i)));
    request.idle_timeout = 0ms;  // the server holds the first replies until the last request
    client.start(request, recorders[i].callbacks());
  }
  for (int i = 0; i < kTransfers; ++i) {
    ASSERT_TRUE(recorders[i].wait_done()) << i;
    EXPECT_EQ(recorders[i].outcome().kind, Kind::completed) << recorders[i].outcome().message;
    EXPECT_EQ(recorders[i].body(), "reply to /" + std::to_string(i));
  }
  EXPECT_EQ(client.transfers_in_flight(), 0u);
  std::lock_guard lock(mu);
  EXPECT_EQ(requests, kTransfers);
}

TEST(HttpClient, ThrowingBodyCallbackFailsOnlyItsTransfer) {
  Recorder failing;
  Recorder after;
  LoopbackServer server([&](LoopbackConnection& c) {
    while (c.read_request()) {
      c.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    }
  });
  HttpClient client;
  HttpCallbacks callbacks = failing.callbacks();
  callbacks.on_body = [](std::string_view) { throw std::runtime_error("consumer exploded"); };
  client.start(chat_request(server.url()), std::move(callbacks));
  ASSERT_TRUE(failing.wait_done());
  EXPECT_EQ(failing.outcome().kind, Kind::network_error);
  EXPECT_NE(failing.outcome().message.find("on_body threw: consumer exploded"), std::string::npos)
      << failing.outcome().message;
  expect_no_secrets(failing.outcome());

  client.start(chat_request(server.url()), after.callbacks());
  ASSERT_TRUE(after.wait_done());
  EXPECT_EQ(after.outcome().kind, Kind::completed);
  EXPECT_EQ(after.body(), "hello");
}

TEST(HttpClient, ThrowingHeadCallbackFailsTheTransfer) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    if (!c.read_request()) return;
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  });
  HttpClient client;
  HttpCallbacks callbacks = recorder.callbacks();
  callbacks.on_head = [](const HttpResponseHead&) { throw std::runtime_error("bad head"); };
  client.start(chat_request(server.url()), std::move(callbacks));

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::network_error);
  EXPECT_NE(recorder.outcome().message.find("on_head threw: bad head"), std::string::npos)
      << recorder.outcome().message;
  EXPECT_EQ(recorder.log(), (std::vector<std::string>{"done"}));
}

TEST(HttpClient, ThrowingDoneCallbackLeavesTheLoopRunning) {
  Recorder recorder;
  LoopbackServer server([&](LoopbackConnection& c) {
    while (c.read_request()) c.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  HttpClient client;
  HttpCallbacks throwing;
  throwing.on_done = [](const HttpOutcome&) { throw std::runtime_error("late failure"); };
  client.start(chat_request(server.url()), std::move(throwing));
  client.run_after(0ms, [] { throw std::runtime_error("timer failure"); });
  client.start(chat_request(server.url()), recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::completed);
}

TEST(HttpClient, HeaderWithLineBreakIsRefusedWithoutShowingItsValue) {
  Recorder recorder;
  HttpClient client;
  HttpRequest request = chat_request("http://127.0.0.1:9/");
  request.headers.emplace_back("X-Api-Key", std::string(kSecret) + "\r\nX-Injected: 1");
  client.start(request, recorder.callbacks());

  ASSERT_TRUE(recorder.wait_done());
  EXPECT_EQ(recorder.outcome().kind, Kind::network_error);
  EXPECT_NE(recorder.outcome().message.find("'X-Api-Key'"), std::string::npos)
      << recorder.outcome().message;
  expect_no_secrets(recorder.outcome());
}

TEST(HttpClient, ErrorMessagesNeverShowRequestHeadersOrBody) {
  // Every failure path that reaches libcurl's own messages, with the secret
  // header and body in the request.
  Recorder refused, cut, idle;
  LoopbackServer server([&](LoopbackConnection& c) {
    auto request = c.read_request();
    if (!request) return;
    if (request->target == "/cut") {
      c.send(kChunkedHead);
      c.send("5\r\nab");
      return;
    }
    c.wait_for_hangup(1500ms);
  });
  HttpClient client;
  client.start(chat_request("http://127.0.0.1:" + std::to_string(unused_port()) + "/"),
               refused.callbacks());
  client.start(chat_request(server.url("/cut")), cut.callbacks());
  HttpRequest silent = chat_request(server.url("/idle"));
  silent.idle_timeout = 200ms;
  client.start(silent, idle.callbacks());

  for (Recorder* recorder : {&refused, &cut, &idle}) {
    ASSERT_TRUE(recorder->wait_done());
    EXPECT_NE(recorder->outcome().kind, Kind::completed);
    EXPECT_FALSE(recorder->outcome().message.empty());
    expect_no_secrets(recorder->outcome());
  }
}

}  // namespace
}  // namespace storyloom::detail
