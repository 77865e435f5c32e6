// Sending one scenario's answer to a provider request: the status, the
// headers (Retry-After, rate-limit headers) and the body, whole or streamed,
// with the scenario's timing and breakage. FAKE_LLM_SERVER.md lists what each
// scenario sends.
#pragma once

#include <chrono>
#include <functional>

#include "fake_formats.h"
#include "fake_http.h"
#include "fake_scenario.h"

namespace storyloom::testing::fake {

// Waits, or throws Abandoned when the server stops meanwhile.
using Pause = std::function<void(std::chrono::microseconds)>;

// Answers `prompt`, a request to `provider`'s endpoint, as `spec` says.
// `sequence`: the request's number among all requests (its ids come from it);
// `arrival`: its number (from 1) under its scenario segment. Waits only
// through `pause`; throws Abandoned when the client or the server gives up.
void send_scenario_response(ResponseWriter& out, Pause pause, const ScenarioSpec& spec,
                            Provider provider, const Prompt& prompt, long long sequence,
                            long long arrival);

}  // namespace storyloom::testing::fake
