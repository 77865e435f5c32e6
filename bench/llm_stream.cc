// Streamed tokens through the engine: the fake LLM server (in this process, on
// 127.0.0.1) writes each token as `<t=NANOSECONDS>`, stamped with
// steady_clock the moment it is written; the figure is that stamp to the
// subscriber callback that receives the token as a live chunk event. It
// includes the loopback socket, so a baseline measures the same path with only
// libcurl and the SSE parser (HttpClient, no engine); the engine's overhead is
// the difference. A second pass streams as fast as the server can write and
// counts the chunk events the store gets per second of streaming.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "bench.h"
#include "fake_llm_server.h"
#include "http/http_client.h"
#include "http/sse_parser.h"
#include "stats.h"
#include "storyloom/engine.h"

namespace storyloom::bench {
namespace {

constexpr double kTargetP99Ms = 1.0;
constexpr double kTargetWritesPerSecond = 20.0;

// Every `<t=N>` stamp in `text`, as latencies to `now`.
void stamps(std::string_view text, int64_t now, std::vector<int64_t>& out) {
  for (size_t at = text.find("<t="); at != std::string_view::npos; at = text.find("<t=", at + 3)) {
    size_t end = text.find('>', at);
    if (end == std::string_view::npos) return;
    out.push_back(now - std::stoll(std::string(text.substr(at + 3, end - at - 3))));
  }
}

std::string scenario(size_t chunks, int64_t interval_us) {
  return "fast;chunks=" + std::to_string(chunks) + ";interval_us=" + std::to_string(interval_us);
}

// libcurl and the SSE parser alone: the floor under the engine's figure.
std::vector<int64_t> baseline(testing::FakeLlmServer& server, size_t chunks, int64_t interval_us) {
  detail::HttpClient http;
  detail::SseParser parser;
  std::vector<int64_t> latency;
  std::atomic<bool> done{false};
  detail::HttpRequest request;
  request.url = server.base_url(scenario(chunks, interval_us)) + "/v1/chat/completions";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"go"}]})";
  detail::HttpCallbacks cb;
  cb.on_body = [&](std::string_view bytes) {
    int64_t now = steady_ns();
    parser.feed(bytes, [&](detail::SseEvent&& e) { stamps(e.data, now, latency); });
  };
  cb.on_done = [&](const detail::HttpOutcome&) { done = true; };
  auto transfer = http.start(std::move(request), std::move(cb));
  wait_until([&] { return done.load(); }, std::chrono::seconds(60));
  return latency;
}

struct EngineStream {
  std::vector<int64_t> latency_ns;  // live chunk events
  size_t stored_chunk_events = 0;
  size_t busiest_second = 0;   // most writes of token text alone within any one second
  double sustained_per_s = 0;  // those writes over the time between the first and the last
  double stream_seconds = 0;   // first to last token at the subscriber
  std::string status;
};

EngineStream through_engine(testing::FakeLlmServer& server, size_t chunks, int64_t interval_us,
                            const std::string& tmp_dir) {
  TempStore store(tmp_dir);
  EngineOptions options;
  options.store = store.spec();
  options.llm.use_environment = false;
  LlmProviderConfig fake;
  fake.name = "fake";
  fake.base_url = server.base_url(scenario(chunks, interval_us)) + "/v1";
  fake.model = "fake-model";
  options.llm.providers = {fake};
  options.llm.default_provider = "fake";
  auto engine = Engine::open(options);
  engine->launch();
  engine->register_workflow("stream", [chunks](Context& ctx, const Json&) -> Json {
    LlmRequest r;
    r.messages = {{"user", "go"}};
    r.max_tokens = static_cast<int>(chunks + 10);
    return Json(ctx.llm("tokens", r).text.size());
  });
  EngineStream out;
  out.latency_ns.reserve(chunks);
  std::mutex mutex;
  int64_t first_ns = 0, last_ns = 0;
  auto run = engine->start("stream", boost::json::object{});
  auto sub = engine->subscribe(run.id, 0, [&](const Event& e) {
    if (e.type != "chunk" || e.kind != EventKind::transient) return;
    int64_t now = steady_ns();
    std::lock_guard lock(mutex);
    stamps(e.data.at("text").as_string(), now, out.latency_ns);
    if (first_ns == 0) first_ns = now;
    last_ns = now;
  });
  wait_until([&] { return is_finished(engine->get(run.id).status); }, std::chrono::seconds(120));
  sub.close();
  auto info = engine->get(run.id);
  out.status = to_string(info.status);
  std::vector<Event> stored;
  for (int64_t after = 0;;) {
    auto page = engine->events(run.id, after, 10'000);
    if (page.empty()) break;
    after = page.back().id;
    for (auto& e : page) stored.push_back(std::move(e));
  }
  // Writes the token text caused: a chunk event committed with another change
  // (the step's result, which must follow all its text) costs no write of its own.
  std::vector<int64_t> written_at;
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].type != "chunk") continue;
    ++out.stored_chunk_events;
    bool rides_along = i + 1 < stored.size() && stored[i + 1].type != "chunk" &&
                       stored[i + 1].created_at_ms == stored[i].created_at_ms;
    if (!rides_along) written_at.push_back(stored[i].created_at_ms);
  }
  if (written_at.size() > 1 && written_at.back() > written_at.front()) {
    out.sustained_per_s = static_cast<double>(written_at.size() - 1) * 1000.0 /
                          static_cast<double>(written_at.back() - written_at.front());
  }
  for (size_t begin = 0, end = 0; end < written_at.size(); ++end) {
    while (written_at[end] - written_at[begin] >= 1000) ++begin;
    out.busiest_second = std::max(out.busiest_second, end - begin + 1);
  }
  out.stream_seconds = static_cast<double>(last_ns - first_ns) / 1e9;
  return out;
}

// {"count","mean","min","p50","p90","p99","p999","max"} in milliseconds.
boost::json::object latency_figures(const std::vector<int64_t>& ns) {
  std::vector<double> ms;
  ms.reserve(ns.size());
  for (int64_t v : ns) ms.push_back(static_cast<double>(v) / 1e6);
  return summarize(ms);
}

}  // namespace

boost::json::object measure_llm_stream(const LlmStreamParams& params, const std::string& tmp_dir) {
  testing::FakeLlmServer server;
  Conditions conditions;
  std::fprintf(stderr, "llm_stream: %zu tokens, one every %lld us, baseline then engine\n",
               params.tokens, static_cast<long long>(params.interval_us));
  auto floor = baseline(server, params.tokens, params.interval_us);
  auto paced = through_engine(server, params.tokens, params.interval_us, tmp_dir);
  std::fprintf(stderr, "llm_stream: %zu tokens as fast as the server writes\n", params.fast_tokens);
  auto flood = through_engine(server, params.fast_tokens, 0, tmp_dir);

  auto engine_fig = latency_figures(paced.latency_ns);
  auto floor_fig = latency_figures(floor);
  auto figure = [](const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v ? v->to_number<double>() : 0.0;
  };
  double overhead_p50 = round3(figure(engine_fig, "p50") - figure(floor_fig, "p50"));
  double overhead_p99 = round3(figure(engine_fig, "p99") - figure(floor_fig, "p99"));
  return boost::json::object{
      {"what",
       "token stamped by the fake server at write time -> live chunk event at a "
       "subscriber; baseline: same socket through libcurl + SSE parser only"},
      {"tokens", params.tokens},
      {"interval_us", params.interval_us},
      {"baseline_http_sse_ms", floor_fig},
      {"engine_ms", engine_fig},
      {"engine_overhead_p50_ms", overhead_p50},
      {"engine_overhead_p99_ms", overhead_p99},
      {"target_engine_p99_ms", kTargetP99Ms},
      {"run_status", paced.status},
      {"paced_stored_chunk_events", paced.stored_chunk_events},
      {"paced_stream_s", paced.stream_seconds},
      {"paced_most_writes_in_one_second", paced.busiest_second},
      {"paced_sustained_writes_per_s", round3(paced.sustained_per_s)},
      {"flood_tokens", params.fast_tokens},
      {"flood_received", flood.latency_ns.size()},
      {"flood_stream_s", flood.stream_seconds},
      {"flood_stored_chunk_events", flood.stored_chunk_events},
      {"flood_most_writes_in_one_second", flood.busiest_second},
      {"flood_sustained_writes_per_s", round3(flood.sustained_per_s)},
      {"target_most_writes_in_one_second", kTargetWritesPerSecond},
      {"conditions", conditions.finish()}};
}

}  // namespace storyloom::bench
