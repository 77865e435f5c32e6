#include "fake_http_step.h"

#include <boost/json.hpp>
#include <string>

namespace storyloom::testing::fake {
namespace {

std::string echo_of(const RecordedRequest& request) {
  boost::json::object headers;
  for (const auto& [name, value] : request.headers) {
    auto* existing = headers.if_contains(name);
    if (existing) {
      existing->get_string().append(", ").append(value);
    } else {
      headers[name] = value;
    }
  }
  return boost::json::serialize(boost::json::object{{"method", request.method},
                                                    {"path", request.path},
                                                    {"headers", std::move(headers)},
                                                    {"body", request.body}});
}

void send_error(ResponseWriter& out, int status, const std::string& message,
                std::vector<Header> headers = {}) {
  out.send_json(status, boost::json::serialize(boost::json::object{{"error", message}}),
                std::move(headers));
}

}  // namespace

void send_http_step_response(ResponseWriter& out, Pause pause, const ScenarioSpec& spec,
                             const RecordedRequest& request, long long arrival) {
  std::string echo = echo_of(request);
  // A cookie and a credential header: the step must not store them.
  std::vector<Header> headers = {{"Set-Cookie", "session=fake-session-cookie"},
                                 {"X-Echo", "yes"}};
  switch (spec.scenario) {
    case Scenario::normal:
      return out.send_json(200, echo, headers);
    case Scenario::server_error_then_ok:
      if (arrival <= spec.number("times", 1)) {
        return send_error(out, static_cast<int>(spec.number("status", 500)), "fake server error");
      }
      return out.send_json(200, echo, headers);
    case Scenario::rate_limited_then_ok:
      if (arrival <= spec.number("times", 1)) {
        return send_error(out, 429, "fake rate limit",
                          {{"Retry-After", std::to_string(spec.number("retry_after", 1))}});
      }
      return out.send_json(200, echo, headers);
    case Scenario::bad_request:
      return send_error(out, 400, "fake bad request: the field 'title' is missing");
    case Scenario::unauthorized:
      return send_error(out, 401, "fake unauthorized");
    case Scenario::stall: {
      // Half the body, silence, the rest: a transfer to cancel or time out mid-way.
      headers.push_back({"Content-Type", "application/json"});
      headers.push_back({"Content-Length", std::to_string(echo.size())});
      out.send_head(200, headers);
      out.send_raw(std::string_view(echo).substr(0, echo.size() / 2));
      pause(std::chrono::milliseconds(spec.number("stall_ms", 10000)));
      return out.send_raw(std::string_view(echo).substr(echo.size() / 2));
    }
    default:
      return send_error(out, 400, "fake scenario '" + spec.name + "' is not served under /h/ "
                                  "(normal, server_error_then_ok, rate_limited_then_ok, "
                                  "bad_request, unauthorized, stall)");
  }
}

}  // namespace storyloom::testing::fake
