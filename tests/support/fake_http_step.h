// The fake server's answers to the http step's tests: any method on
// /h/<scenario>/<anything> echoes the request as JSON, after the scenario's
// failures (FAKE_LLM_SERVER.md, "The http step").
#pragma once

#include "fake_http.h"
#include "fake_response.h"
#include "fake_scenario.h"

namespace storyloom::testing::fake {

// `arrival`: the request's number (from 1) under its scenario segment.
void send_http_step_response(ResponseWriter& out, Pause pause, const ScenarioSpec& spec,
                             const RecordedRequest& request, long long arrival);

}  // namespace storyloom::testing::fake
