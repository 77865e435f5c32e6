// The fake server's OpenAI-compatible images endpoint: POST
// /s/<scenario>/v1/images/generations answers one small deterministic PNG as
// b64_json, after the scenario's failures (FAKE_LLM_SERVER.md, "Images").
#pragma once

#include <string>
#include <string_view>

#include "fake_http.h"
#include "fake_response.h"
#include "fake_scenario.h"

namespace storyloom::testing::fake {

// Width and height of every fake picture.
inline constexpr int kFakePictureWidth = 32;
inline constexpr int kFakePictureHeight = 24;

// A valid PNG (8-bit RGB, stored deflate blocks) of one colour taken from a
// hash of `prompt`, with a darker band, so two prompts give different bytes.
std::string fake_png(std::string_view prompt);

// `arrival`: the request's number (from 1) under its scenario segment.
void send_images_response(ResponseWriter& out, Pause pause, const ScenarioSpec& spec,
                          const RecordedRequest& request, long long arrival);

}  // namespace storyloom::testing::fake
