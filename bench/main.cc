// storyloom_bench: prints one JSON object with the machine, the parameters,
// the figures and their targets. Progress goes to stderr.
//
//   storyloom_bench [--runs N] [--clients 8,16,32] [--workers N] [--max-executions N]
//                   [--steps K] [--memo-reps N] [--events N] [--gap-us N]
//                   [--subscribers 1,100] [--start-samples N] [--tmp-dir DIR]
//                   [--only throughput,memoized_step,event_latency,start_latency,host_step,
//                           keyed_throughput,parked_runs,llm_stream,drain,start_many,
//                           signal_many,picture_artifacts]
//                   [--drain-runs N] [--start-many-runs N] [--signal-runs N]
//                   [--throughput-budget-s S] [--keyed-runs N] [--parked N]
//                   [--tokens N] [--token-interval-us N] [--compact]
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "bench.h"
#include "stats.h"
#include "storyloom/error.h"

namespace {

using namespace storyloom::bench;

const std::set<std::string> kSections = {"throughput",       "memoized_step", "event_latency",
                                         "start_latency",    "host_step",
                                         "keyed_throughput", "parked_runs", "llm_stream",
                                         "drain",            "start_many",  "signal_many",
                                         "picture_artifacts"};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "storyloom_bench: " << problem << "\n"
            << "usage: storyloom_bench [--runs N] [--clients 8,16,32] [--workers N]\n"
            << "         [--max-executions N] [--steps K] [--memo-reps N] [--events N]\n"
            << "         [--gap-us N] [--subscribers 1,100] [--start-samples N]\n"
            << "         [--tmp-dir DIR] [--only SECTION,...] [--throughput-budget-s S]\n"
            << "         [--keyed-runs N] [--parked N] [--tokens N]\n"
            << "         [--token-interval-us N] [--drain-runs N] [--start-many-runs N]\n"
            << "         [--signal-runs N] [--compact]\n";
  std::exit(2);
}

long long parse_count(const std::string& flag, const std::string& text, long long min) {
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used != text.size() || v < min) throw std::invalid_argument(text);
    return v;
  } catch (const std::exception&) {
    usage(flag + " wants an integer >= " + std::to_string(min) + ", got '" + text + "'");
  }
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<int> parse_list(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  for (const auto& item : split(text)) out.push_back(static_cast<int>(parse_count(flag, item, 1)));
  if (out.empty()) usage(flag + " wants a comma-separated list of counts");
  return out;
}

// Writes `v` as JSON: numbers in plain shortest form (60000, 0.519 rather than
// Boost's 6E4, 5.19E-1); indented by two spaces unless `compact`.
void write_json(std::ostream& os, const boost::json::value& v, bool compact, int indent = 0) {
  auto newline = [&](int level) {
    if (!compact) os << "\n" << std::string(static_cast<size_t>(level), ' ');
  };
  switch (v.kind()) {
    case boost::json::kind::object: {
      const auto& o = v.as_object();
      if (o.empty()) {
        os << "{}";
        return;
      }
      os << "{";
      bool first = true;
      for (const auto& kv : o) {
        if (!first) os << ",";
        first = false;
        newline(indent + 2);
        os << boost::json::serialize(boost::json::string(kv.key())) << (compact ? ":" : ": ");
        write_json(os, kv.value(), compact, indent + 2);
      }
      newline(indent);
      os << "}";
      return;
    }
    case boost::json::kind::array: {
      const auto& a = v.as_array();
      bool nested = !a.empty() && a.front().is_structured();
      os << "[";
      bool first = true;
      for (const auto& item : a) {
        if (!first) os << (nested || compact ? "," : ", ");
        first = false;
        if (nested) newline(indent + 2);
        write_json(os, item, compact, indent + 2);
      }
      if (nested) newline(indent);
      os << "]";
      return;
    }
    case boost::json::kind::double_: {
      double d = v.as_double();
      if (!std::isfinite(d)) {
        os << "null";
        return;
      }
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
      os << std::string_view(buf, static_cast<size_t>(end - buf));
      return;
    }
    default:
      os << boost::json::serialize(v);
  }
}

}  // namespace

namespace storyloom::bench {
// host_step.cc: K new no-op host steps per run (--steps K, --memo-reps runs).
boost::json::object measure_host_step(size_t steps, int repetitions, const std::string& tmp_dir);
}  // namespace storyloom::bench

int main(int argc, char** argv) {
  ThroughputParams throughput;
  MemoizedStepParams memoized;
  EventLatencyParams events;
  StartLatencyParams start;
  KeyedThroughputParams keyed;
  ParkedRunsParams parked;
  LlmStreamParams llm;
  FloorParams floor;
  std::string tmp_dir = std::filesystem::temp_directory_path().string();
  std::set<std::string> only = kSections;
  bool compact = false;

  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--compact") {
      compact = true;
      continue;
    }
    if (flag == "--help" || flag == "-h") usage("benchmarks of the storyloom core");
    static const std::set<std::string> kValueFlags = {"--runs",
                                                      "--clients",
                                                      "--workers",
                                                      "--max-executions",
                                                      "--steps",
                                                      "--memo-reps",
                                                      "--events",
                                                      "--gap-us",
                                                      "--subscribers",
                                                      "--start-samples",
                                                      "--tmp-dir",
                                                      "--only",
                                                      "--throughput-budget-s",
                                                      "--keyed-runs",
                                                      "--parked",
                                                      "--tokens",
                                                      "--token-interval-us",
                                                      "--drain-runs",
                                                      "--start-many-runs",
                                                      "--signal-runs"};
    if (!kValueFlags.count(flag)) usage("unknown flag '" + flag + "'");
    if (i + 1 >= argc) usage(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--runs") {
      throughput.runs = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--throughput-budget-s") {
      throughput.budget_seconds = static_cast<double>(parse_count(flag, value, 0));
    } else if (flag == "--clients") {
      throughput.clients = parse_list(flag, value);
    } else if (flag == "--workers") {
      throughput.workers = static_cast<int>(parse_count(flag, value, 1));
    } else if (flag == "--max-executions") {
      throughput.max_executions = static_cast<int>(parse_count(flag, value, 1));
    } else if (flag == "--steps") {
      memoized.steps = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--memo-reps") {
      memoized.repetitions = static_cast<int>(parse_count(flag, value, 1));
    } else if (flag == "--events") {
      events.events = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--gap-us") {
      events.gap_us = parse_count(flag, value, 0);
    } else if (flag == "--subscribers") {
      events.subscribers = parse_list(flag, value);
    } else if (flag == "--start-samples") {
      start.samples = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--keyed-runs") {
      keyed.runs = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--parked") {
      parked.runs = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--drain-runs") {
      floor.drain_runs = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--start-many-runs") {
      floor.start_many_runs = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--signal-runs") {
      floor.signal_runs = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--tokens") {
      llm.tokens = static_cast<size_t>(parse_count(flag, value, 1));
    } else if (flag == "--token-interval-us") {
      llm.interval_us = parse_count(flag, value, 0);
    } else if (flag == "--tmp-dir") {
      tmp_dir = value;
    } else if (flag == "--only") {
      only.clear();
      for (const auto& s : split(value)) {
        if (!kSections.count(s)) usage("unknown section '" + s + "' in --only");
        only.insert(s);
      }
    } else {
      usage("unknown flag '" + flag + "'");
    }
  }

  boost::json::object out;
  try {
    auto t0 = SteadyClock::now();
    out["machine"] = machine_info(tmp_dir);
    out["method"] =
        "each section runs on its own engine and temporary SQLite file (WAL, durability full: "
        "synchronous=FULL, every group commit fsynced; *_normal sections: synchronous=NORMAL); "
        "latency summaries sort the samples: p50 is the median, other percentiles nearest-rank; "
        "conditions.load_1m_* show how busy the machine was (figures on a busy machine are low)";
    // Durable figures (durability full, the default) beside those at normal.
    if (only.count("throughput")) {
      out["throughput"] = measure_throughput(throughput, tmp_dir);
      auto normal = throughput;
      normal.durability = storyloom::Durability::normal;
      out["throughput_normal"] = measure_throughput(normal, tmp_dir);
    }
    if (only.count("memoized_step"))
      out["memoized_step"] = measure_memoized_step(memoized, tmp_dir);
    if (only.count("event_latency")) out["event_latency"] = measure_event_latency(events, tmp_dir);
    if (only.count("start_latency")) {
      out["start_latency"] = measure_start_latency(start, tmp_dir);
      auto normal = start;
      normal.durability = storyloom::Durability::normal;
      out["start_latency_normal"] = measure_start_latency(normal, tmp_dir);
    }
    if (only.count("host_step"))
      out["host_step"] = measure_host_step(memoized.steps, memoized.repetitions, tmp_dir);
    if (only.count("keyed_throughput"))
      out["keyed_throughput"] = measure_keyed_throughput(keyed, tmp_dir);
    if (only.count("parked_runs")) out["parked_runs"] = measure_parked_runs(parked, tmp_dir);
    if (only.count("llm_stream")) out["llm_stream"] = measure_llm_stream(llm, tmp_dir);
    // The engine beside a bare SQLite floor measured in the same run, at full
    // durability (and the floor at normal too, for the *_normal sections).
    using storyloom::Durability;
    if (only.count("drain")) out["drain"] = measure_drain(floor.drain_runs, Durability::full, tmp_dir);
    if (only.count("start_many")) {
      out["start_many"] = measure_start_many(floor.start_many_runs, floor.start_many_batch,
                                             Durability::full, tmp_dir);
      out["sqlite_floor"] = measure_sqlite_floor(floor.start_many_runs, floor.floor_group,
                                                 Durability::full, tmp_dir);
      double engine = out["start_many"].as_object()["runs_per_s"].to_number<double>();
      double bare = out["sqlite_floor"].as_object()["jobs_per_s"].to_number<double>();
      out["start_many"].as_object()["ratio_to_sqlite_floor"] = round3(engine / bare);
      out["start_many"].as_object()["target_ratio_to_sqlite_floor"] = 0.7;
    }
    if (only.count("signal_many"))
      out["signal_many"] = measure_signal_many(floor.signal_runs, floor.signal_batch, tmp_dir);
    if (only.count("picture_artifacts"))
      out["picture_artifacts"] = measure_picture_artifacts(PictureArtifactsParams{}, tmp_dir);
    out["bench_seconds"] = round3(std::chrono::duration<double>(SteadyClock::now() - t0).count());
  } catch (const storyloom::Error& e) {
    std::cerr << "storyloom_bench: " << storyloom::to_string(e.code()) << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "storyloom_bench: " << e.what() << "\n";
    return 1;
  }
  write_json(std::cout, out, compact);
  std::cout << "\n";
  return 0;
}
