// Standard Webhooks signatures: HMAC-SHA256 over "id.timestamp.body" with
// OpenSSL's libcrypto, base64 in the header, compared in constant time.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <charconv>
#include <optional>
#include <string>

#include "storyloom/error.h"
#include "storyloom/webhooks.h"

namespace storyloom {
namespace {

constexpr size_t kMinSecretBytes = 16;

std::string base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                static_cast<int>(size));
  out.resize(static_cast<size_t>(written));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(written) - padding);
  return out;
}

// The HMAC key of a secret: the bytes after "whsec_" decoded, else the text.
std::string key_of(std::string_view secret) {
  std::string key;
  if (secret.rfind("whsec_", 0) == 0) {
    auto decoded = unbase64(secret.substr(6));
    if (!decoded) {
      throw Error(ErrorCode::invalid_argument,
                  "webhook secret starts with whsec_ but the rest is not base64");
    }
    key = std::move(*decoded);
  } else {
    key = std::string(secret);
  }
  if (key.size() < kMinSecretBytes) {
    throw Error(ErrorCode::invalid_argument, "webhook secret is shorter than " +
                                                 std::to_string(kMinSecretBytes) + " bytes");
  }
  return key;
}

std::string hmac_base64(const std::string& key, std::string_view id, std::string_view timestamp,
                        std::string_view body) {
  std::string message;
  message.reserve(id.size() + timestamp.size() + body.size() + 2);
  message.append(id).append(".").append(timestamp).append(".").append(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
            &length)) {
    throw Error(ErrorCode::internal, "HMAC-SHA256 failed in OpenSSL");
  }
  return base64(digest, length);
}

}  // namespace

std::string webhook_signature(std::string_view secret, std::string_view webhook_id,
                              int64_t timestamp_s, std::string_view body) {
  return "v1," + hmac_base64(key_of(secret), webhook_id, std::to_string(timestamp_s), body);
}

WebhookVerdict verify_webhook(std::string_view secret, const WebhookHeaders& headers,
                              std::string_view body, int64_t now_s, std::chrono::seconds tolerance) {
  if (headers.id.empty()) return {400, "the webhook-id header is missing"};
  if (headers.timestamp.empty()) return {400, "the webhook-timestamp header is missing"};
  if (headers.signature.empty()) return {400, "the webhook-signature header is missing"};
  int64_t timestamp = 0;
  const char* end = headers.timestamp.data() + headers.timestamp.size();
  auto [ptr, ec] = std::from_chars(headers.timestamp.data(), end, timestamp);
  if (ec != std::errc() || ptr != end) {
    return {400, "the webhook-timestamp header is not a number of seconds"};
  }
  if (timestamp < now_s - tolerance.count() || timestamp > now_s + tolerance.count()) {
    return {400, "the webhook-timestamp is outside the accepted window of " +
                     std::to_string(tolerance.count()) + " seconds"};
  }
  std::string expected = hmac_base64(key_of(secret), headers.id, headers.timestamp, body);
  // Several signatures may be sent (key rotation): "v1,abc v1,def".
  std::string_view rest = headers.signature;
  bool match = false;
  while (!rest.empty()) {
    size_t space = rest.find(' ');
    std::string_view one = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (one.rfind("v1,", 0) != 0) continue;
    std::string_view given = one.substr(3);
    // Every candidate is compared in full, so timing says nothing about which matched.
    if (given.size() == expected.size() &&
        CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0) {
      match = true;
    }
  }
  if (!match) return {401, "no webhook signature matches"};
  return {};
}

}  // namespace storyloom
