// HTTP/1.1 over a connected socket. See fake_http.h.
#include "fake_http.h"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <system_error>

namespace storyloom::testing::fake {

namespace {

constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxBody = 64 * 1024 * 1024;

std::optional<long long> parse_integer(std::string_view s) {
  long long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 425:
      return "Too Early";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 529:
      return "Overloaded";
    default:
      return "Status";
  }
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void parse_head(std::string_view head, RecordedRequest& request) {
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  size_t first = line.find(' '), second = line.rfind(' ');
  if (first == std::string_view::npos || first == second ||
      line.substr(second + 1).substr(0, 7) != "HTTP/1.") {
    throw MalformedRequest{400, "bad request line"};
  }
  request.method = std::string(line.substr(0, first));
  request.path = std::string(line.substr(first + 1, second - first - 1));
  while (line_end != std::string_view::npos) {
    head.remove_prefix(line_end + 2);
    line_end = head.find("\r\n");
    line = head.substr(0, line_end);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw MalformedRequest{400, "bad header line"};
    }
    request.headers.emplace_back(lowercase(std::string(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
  }
}

}  // namespace

void ResponseWriter::send_head(int status, const std::vector<Header>& headers) {
  std::string head =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "Connection: close\r\n\r\n";
  head_sent_ = true;
  send_raw(head);
}

void ResponseWriter::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Abandoned{};
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void ResponseWriter::send_chunk(std::string_view data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  send_raw(std::string(size) + std::string(data) + "\r\n");
}

void ResponseWriter::send_last_chunk() { send_raw("0\r\n\r\n"); }

void ResponseWriter::send_json(int status, std::string_view body, std::vector<Header> headers) {
  headers.emplace_back("Content-Type", "application/json");
  headers.emplace_back("Content-Length", std::to_string(body.size()));
  send_head(status, headers);
  send_raw(body);
}

std::optional<RecordedRequest> RequestReader::read() {
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > kMaxHead) throw MalformedRequest{431, "request head over 64 KiB"};
    if (!fill()) return std::nullopt;
  }
  RecordedRequest request;
  parse_head(std::string_view(buffer_).substr(0, head_end), request);
  position_ = head_end + 4;
  std::string expect = lowercase(request.header("expect"));
  std::string encoding = lowercase(request.header("transfer-encoding"));
  std::string length = request.header("content-length");
  bool has_body = !encoding.empty() || (!length.empty() && length != "0");
  // libcurl waits up to a second for this before sending a large body.
  if (expect == "100-continue" && has_body) out_.send_raw("HTTP/1.1 100 Continue\r\n\r\n");
  if (encoding == "chunked") {
    if (!read_chunked_body(request.body)) return std::nullopt;
  } else if (!encoding.empty()) {
    throw MalformedRequest{400, "unsupported Transfer-Encoding '" + encoding + "'"};
  } else if (!length.empty()) {
    auto size = parse_integer(length);
    if (!size || *size < 0) throw MalformedRequest{400, "bad Content-Length '" + length + "'"};
    if (static_cast<size_t>(*size) > kMaxBody) {
      throw MalformedRequest{413, "request body over 64 MiB"};
    }
    if (!have(static_cast<size_t>(*size))) return std::nullopt;
    request.body = buffer_.substr(position_, static_cast<size_t>(*size));
  }
  return request;
}

bool RequestReader::fill() {
  char bytes[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, bytes, sizeof bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer_.append(bytes, static_cast<size_t>(n));
    return true;
  }
}

bool RequestReader::have(size_t count) {
  while (buffer_.size() - position_ < count) {
    if (!fill()) return false;
  }
  return true;
}

std::optional<std::string> RequestReader::line() {
  size_t end;
  while ((end = buffer_.find("\r\n", position_)) == std::string::npos) {
    if (buffer_.size() - position_ > kMaxHead) throw MalformedRequest{400, "bad chunk line"};
    if (!fill()) return std::nullopt;
  }
  std::string text = buffer_.substr(position_, end - position_);
  position_ = end + 2;
  return text;
}

bool RequestReader::read_chunked_body(std::string& body) {
  for (;;) {
    auto size_line = line();
    if (!size_line) return false;
    std::string_view digits = std::string_view(*size_line).substr(0, size_line->find(';'));
    size_t size = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
    if (ec != std::errc() || end == digits.data()) {
      throw MalformedRequest{400, "bad chunk size '" + std::string(digits) + "'"};
    }
    if (size == 0) break;
    if (body.size() + size > kMaxBody) throw MalformedRequest{413, "request body over 64 MiB"};
    if (!have(size + 2)) return false;
    body.append(buffer_, position_, size);
    position_ += size + 2;
  }
  for (;;) {  // trailers, up to the empty line
    auto trailer = line();
    if (!trailer) return false;
    if (trailer->empty()) return true;
  }
}

}  // namespace storyloom::testing::fake
