// FakeLlmServer: an OpenAI- and Anthropic-compatible HTTP/1.1 server on
// 127.0.0.1 for tests and benchmarks. It is not a language model: replies are
// deterministic text derived from the request. The URL picks the behaviour:
//
//   http://127.0.0.1:PORT/s/<scenario>/v1/chat/completions   (OpenAI-compatible)
//   http://127.0.0.1:PORT/s/<scenario>/v1/messages           (Anthropic Messages)
//
// where <scenario> is `name[~tag](;key=value)*`, e.g. `slow_trickle~t1;delay_ms=20`.
// FAKE_LLM_SERVER.md (beside this file) lists the scenarios, their parameters
// and the control endpoints (GET /_stats, POST /_reset, GET /_requests) that
// out-of-process tests use; the `fake_llm_server` program serves the same.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace storyloom::testing {

// One request as it arrived. Headers may carry (fake) API keys: tests compare
// them, nobody prints them.
struct RecordedRequest {
  std::string method;
  std::string path;  // the request target as sent, query included
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, values trimmed
  std::string body;                                          // chunked request bodies are decoded

  // The first header of that (lowercase) name, or "" when absent.
  std::string header(std::string_view lowercase_name) const;
};

// Serves from construction until destruction, on one accept thread plus one
// thread per connection. Every response ends with `Connection: close`.
// All member functions are thread-safe.
class FakeLlmServer {
 public:
  // Listens on 127.0.0.1:`port` (0: any free port). Throws std::system_error
  // when it cannot listen.
  explicit FakeLlmServer(int port = 0);
  // Stops accepting, aborts responses in progress (also a stall or a slow
  // trickle) and joins every thread; returns promptly.
  ~FakeLlmServer();
  FakeLlmServer(const FakeLlmServer&) = delete;
  FakeLlmServer& operator=(const FakeLlmServer&) = delete;

  int port() const;

  // "http://127.0.0.1:PORT/s/<scenario>". Anthropic clients use it as their
  // base URL, OpenAI-compatible clients append "/v1".
  std::string base_url(std::string_view scenario) const;

  // How many requests arrived under /s/<scenario>/, counted per exact segment
  // (tag and parameters included), whatever their answer was.
  size_t requests(std::string_view scenario) const;

  // Every request that arrived, in order, except those to the control
  // endpoints (/_stats, /_reset, /_requests).
  std::vector<RecordedRequest> recorded() const;

  // Forgets all counters and recorded requests (as POST /_reset does).
  void reset();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace storyloom::testing
