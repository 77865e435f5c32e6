#include "image/images_protocol.h"

#include <array>
#include <cstdint>

#include "llm/protocol.h"

namespace storyloom::detail {
namespace {

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::step_failed, "the images response " + what, ErrorClass::retryable);
}

std::string decode_base64(std::string_view text) {
  static const std::array<int, 256> value = [] {
    std::array<int, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(alphabet[i])] = i;
    return v;
  }();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || c == '\r') continue;  // some servers wrap base64 lines
    int v = value[c];
    if (v < 0) malformed("b64_json is not base64: byte " + std::to_string(i) + " is not in its alphabet");
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  if (count >= 6) malformed("b64_json is not base64: its length is wrong");
  return out;
}

uint32_t big_endian(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

// A JPEG's size is in its first start-of-frame segment.
bool jpeg_size(std::string_view b, int& width, int& height) {
  size_t at = 2;
  while (at + 9 < b.size()) {
    if (uint8_t(b[at]) != 0xFF) return false;
    uint8_t marker = uint8_t(b[at + 1]);
    size_t length = (size_t(uint8_t(b[at + 2])) << 8) | uint8_t(b[at + 3]);
    bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                 marker != 0xCC;
    if (frame) {
      height = (uint8_t(b[at + 5]) << 8) | uint8_t(b[at + 6]);
      width = (uint8_t(b[at + 7]) << 8) | uint8_t(b[at + 8]);
      return true;
    }
    at += 2 + length;
  }
  return false;
}

}  // namespace

HttpRequest images_request(const ImageProviderConfig& provider, const ImageRequest& request,
                           const std::string& model, const std::string& size,
                           const std::string& idempotency_key) {
  boost::json::object body{{"model", model},
                           {"prompt", request.prompt},
                           {"size", size},
                           {"n", 1},
                           {"response_format", "b64_json"}};
  if (!request.extra.is_null()) merge_extra(body, request.extra);
  HttpRequest out;
  out.method = "POST";
  std::string base = provider.base_url.empty() ? "https://api.openai.com/v1" : provider.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  out.url = base + "/images/generations";
  out.headers.emplace_back("Content-Type", "application/json");
  if (!provider.api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + provider.api_key);
  out.headers.emplace_back("Idempotency-Key", idempotency_key);
  out.body = boost::json::serialize(body);
  out.connect_timeout = provider.connect_timeout;
  out.idle_timeout = request.idle_timeout.value_or(provider.idle_timeout);
  out.total_timeout = request.total_timeout.value_or(std::chrono::milliseconds(0));
  return out;
}

ReceivedPicture read_images_response(std::string_view body) {
  boost::system::error_code ec;
  Json json = boost::json::parse(body, ec);
  if (ec) malformed("is not JSON (" + ec.message() + ")");
  const auto* o = json.if_object();
  const auto* data = o ? o->if_contains("data") : nullptr;
  if (!data || !data->is_array() || data->as_array().empty() || !data->as_array()[0].is_object()) {
    malformed("has no data[0] object");
  }
  const auto& first = data->as_array()[0].as_object();
  const auto* b64 = first.if_contains("b64_json");
  if (!b64 || !b64->is_string()) {
    malformed(first.contains("url") ? "has a url, not b64_json (the server ignored response_format)"
                                    : "has no data[0].b64_json string");
  }
  ReceivedPicture picture = sniff_picture(decode_base64(b64->as_string()));
  if (const auto* revised = first.if_contains("revised_prompt"); revised && revised->is_string()) {
    picture.revised_prompt = std::string(revised->as_string());
  }
  return picture;
}

ReceivedPicture sniff_picture(std::string bytes) {
  ReceivedPicture p;
  std::string_view b = bytes;
  if (b.size() >= 24 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8) &&
      b.substr(12, 4) == "IHDR") {
    p.content_type = "image/png";
    p.width = static_cast<int>(big_endian(b, 16));
    p.height = static_cast<int>(big_endian(b, 20));
  } else if (b.size() >= 4 && uint8_t(b[0]) == 0xFF && uint8_t(b[1]) == 0xD8) {
    p.content_type = "image/jpeg";
    if (!jpeg_size(b, p.width, p.height)) p.width = p.height = 0;
  } else if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
    p.content_type = "image/webp";  // its size depends on the variant: not read
  } else {
    malformed("holds " + std::to_string(b.size()) + " bytes that are not a PNG, JPEG or WebP picture");
  }
  p.bytes = std::move(bytes);
  return p;
}

}  // namespace storyloom::detail
