// The OpenAI images API on the wire (POST {base_url}/images/generations,
// response_format b64_json) and what a picture's bytes say about themselves.
#pragma once

#include <string>
#include <string_view>

#include "http/http_client.h"
#include "storyloom/image.h"

namespace storyloom::detail {

// The request of one picture: {"model","prompt","size","n":1,
// "response_format":"b64_json"} plus the request's extra fields, the key as
// a Bearer header, the idempotency key as Idempotency-Key.
HttpRequest images_request(const ImageProviderConfig& provider, const ImageRequest& request,
                           const std::string& model, const std::string& size,
                           const std::string& idempotency_key);

// A picture as a provider sent it.
struct ReceivedPicture {
  std::string bytes;
  std::string content_type;  // image/png, image/jpeg or image/webp
  int width = 0;
  int height = 0;
  std::string revised_prompt;
};

// Reads data[0].b64_json (and data[0].revised_prompt) from a 2xx body.
// Throws Error(step_failed, retryable) naming what is wrong: not JSON, no
// data, no b64_json (a url instead: the request was answered in another
// format), not base64, not a PNG, JPEG or WebP picture.
ReceivedPicture read_images_response(std::string_view body);

// The media type and size of a picture from its first bytes; throws
// Error(step_failed, retryable) when they are not a PNG, JPEG or WebP.
ReceivedPicture sniff_picture(std::string bytes);

}  // namespace storyloom::detail
