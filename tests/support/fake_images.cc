#include "fake_images.h"

#include <array>
#include <boost/json.hpp>
#include <cstdint>

#include <algorithm>

namespace storyloom::testing::fake {
namespace {

namespace json = boost::json;

uint32_t crc32(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

void chunk(std::string& png, std::string_view type, std::string_view data) {
  put32(png, static_cast<uint32_t>(data.size()));
  std::string typed = std::string(type) + std::string(data);
  png += typed;
  put32(png, crc32(typed));
}

// zlib framing around stored (uncompressed) deflate blocks.
std::string zlib_stored(std::string_view raw) {
  std::string out = "\x78\x01";
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  size_t at = 0;
  do {
    size_t n = std::min<size_t>(65535, raw.size() - at);
    bool last = at + n == raw.size();
    out += static_cast<char>(last ? 1 : 0);
    out += static_cast<char>(n & 0xFF);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xFF);
    out += static_cast<char>((~n >> 8) & 0xFF);
    out.append(raw.substr(at, n));
    at += n;
  } while (at < raw.size());
  put32(out, (b << 16) | a);
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

void send_error(ResponseWriter& out, int status, std::string_view type, std::string_view message,
                std::vector<Header> headers = {}) {
  json::object error{{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  out.send_json(status, json::serialize(json::object{{"error", std::move(error)}}),
                std::move(headers));
}

// The request's problem as a real server words it, or "".
std::string problem_of(const RecordedRequest& request, std::string& prompt) {
  json::error_code ec;
  json::value body = json::parse(request.body, ec);
  if (ec || !body.is_object()) return "We could not parse the JSON body of your request";
  const auto& o = body.as_object();
  const auto* p = o.if_contains("prompt");
  if (!p || !p->is_string() || p->as_string().empty()) return "prompt: Field required";
  prompt = std::string(p->as_string());
  const auto* model = o.if_contains("model");
  if (!model || !model->is_string()) return "model: Field required";
  const auto* format = o.if_contains("response_format");
  if (!format || *format != "b64_json") {
    return "the fake answers only response_format \"b64_json\"";
  }
  return "";
}

}  // namespace

std::string fake_png(std::string_view prompt) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : prompt) h = (h ^ c) * 1099511628211ull;
  std::string raw;
  for (int y = 0; y < kFakePictureHeight; ++y) {
    raw += '\0';  // filter: none
    bool band = y >= kFakePictureHeight * 2 / 3;
    for (int x = 0; x < kFakePictureWidth; ++x) {
      for (int ch = 0; ch < 3; ++ch) {
        auto v = static_cast<unsigned char>((h >> (8 * ch)) & 0xFF);
        raw += static_cast<char>(band ? v / 2 : v);
      }
    }
  }
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  put32(header, kFakePictureWidth);
  put32(header, kFakePictureHeight);
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  chunk(png, "IHDR", header);
  chunk(png, "IDAT", zlib_stored(raw));
  chunk(png, "IEND", "");
  return png;
}

void send_images_response(ResponseWriter& out, Pause pause, const ScenarioSpec& spec,
                          const RecordedRequest& request, long long arrival) {
  std::string prompt;
  if (std::string problem = problem_of(request, prompt); !problem.empty()) {
    return send_error(out, 400, "invalid_request_error", problem);
  }
  std::string shown = prompt.substr(0, 40);
  std::string body = json::serialize(json::object{
      {"created", 1700000000},
      {"data", json::array{json::object{{"b64_json", base64(fake_png(prompt))},
                                        {"revised_prompt", "Fake picture of: " + shown}}}}});
  switch (spec.scenario) {
    case Scenario::normal:
      return out.send_json(200, body);
    case Scenario::rate_limited_then_ok:
      if (arrival <= spec.number("times", 1)) {
        return send_error(out, 429, "requests", "Rate limit reached for images",
                          {{"Retry-After", std::to_string(spec.number("retry_after", 1))}});
      }
      return out.send_json(200, body);
    case Scenario::server_error_then_ok:
      if (arrival <= spec.number("times", 1)) {
        return send_error(out, static_cast<int>(spec.number("status", 500)), "server_error",
                          "The server had an error while processing your request");
      }
      return out.send_json(200, body);
    case Scenario::unauthorized:
      return send_error(out, 401, "invalid_request_error", "Incorrect API key provided");
    case Scenario::bad_request:
      return send_error(out, 400, "invalid_request_error",
                        "Your request was rejected as a result of our safety system");
    case Scenario::malformed_chunk: {
      // Half the JSON body: what a broken proxy passes on.
      return out.send_json(200, std::string_view(body).substr(0, body.size() / 2));
    }
    case Scenario::stall: {
      // Half the body, silence, the rest: a transfer to time out or cancel.
      out.send_head(200, {{"Content-Type", "application/json"},
                          {"Content-Length", std::to_string(body.size())}});
      out.send_raw(std::string_view(body).substr(0, body.size() / 2));
      pause(std::chrono::milliseconds(spec.number("stall_ms", 10000)));
      return out.send_raw(std::string_view(body).substr(body.size() / 2));
    }
    default:
      return send_error(out, 400, "invalid_request_error",
                        "fake scenario '" + spec.name +
                            "' is not served for images (normal, rate_limited_then_ok, "
                            "server_error_then_ok, unauthorized, bad_request, malformed_chunk, "
                            "stall)");
  }
}

}  // namespace storyloom::testing::fake
