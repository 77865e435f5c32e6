// HTTP/1.1 over a connected socket, as much as the fake LLM server needs: one
// request read (Content-Length or chunked body, Expect: 100-continue), one
// response written (whole or chunked), every response `Connection: close`.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake_llm_server.h"

namespace storyloom::testing::fake {

using Header = std::pair<std::string, std::string>;

// Thrown to give up on a response: the client went away, or the server is stopping.
struct Abandoned {};

// The request could not be read as HTTP; sent back as `status`.
struct MalformedRequest {
  int status;
  std::string message;
};

// Writes one response to `fd`, which it does not own. Every send throws
// Abandoned when the peer is gone.
class ResponseWriter {
 public:
  explicit ResponseWriter(int fd) : fd_(fd) {}

  bool head_sent() const { return head_sent_; }

  // `headers` must include the framing (Content-Length or Transfer-Encoding).
  void send_head(int status, const std::vector<Header>& headers);
  void send_raw(std::string_view bytes);
  // One chunk of a chunked body, in one write so it leaves at once (TCP_NODELAY).
  void send_chunk(std::string_view data);
  void send_last_chunk();

  // The head with Content-Type application/json and Content-Length, then `body`.
  void send_json(int status, std::string_view body, std::vector<Header> headers = {});

 private:
  int fd_;
  bool head_sent_ = false;
};

// Reads one request from `fd`, which it does not own; `out` answers
// Expect: 100-continue.
class RequestReader {
 public:
  RequestReader(int fd, ResponseWriter& out) : fd_(fd), out_(out) {}

  // The request, or nullopt when the peer closed before sending all of it.
  // Throws MalformedRequest.
  std::optional<RecordedRequest> read();

 private:
  bool fill();
  // Whether `count` bytes from position_ on are (or become) buffered.
  bool have(size_t count);
  std::optional<std::string> line();
  bool read_chunked_body(std::string& body);

  int fd_;
  ResponseWriter& out_;
  std::string buffer_;
  size_t position_ = 0;
};

}  // namespace storyloom::testing::fake
