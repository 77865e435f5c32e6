// `storyloom signal-many NAME JSON [--runs FILE]`: one signal to many runs,
// sent through Engine::signal_many a thousand at a time, so waking 100,000
// parked runs takes a hundred commits instead of 100,000 separate calls.
#include <fstream>
#include <iostream>

#include "commands.h"

namespace storyloom::cli {
namespace {

constexpr size_t kSignalsPerCommit = 1000;

// A run id line: surrounding blanks trimmed; empty lines and # comments skipped.
std::string_view trimmed(std::string_view line) {
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  return line;
}

}  // namespace

void signal_many_runs(Engine& engine, const CommandLine& cmd, std::ostream& out) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!cmd.runs_file.empty() && cmd.runs_file != "-") {
    file.open(cmd.runs_file);
    if (!file) {
      throw Error(ErrorCode::not_found, "cannot read run ids from '" + cmd.runs_file + "'");
    }
    in = &file;
  }
  size_t delivered = 0;
  size_t refused = 0;
  std::vector<SignalRequest> batch;
  auto send = [&] {
    if (batch.empty()) return;
    auto errors = engine.signal_many(batch);
    for (size_t i = 0; i < errors.size(); ++i) {
      if (!errors[i]) {
        ++delivered;
        continue;
      }
      ++refused;
      out << "refused " << batch[i].run_id << ": " << errors[i]->what() << "\n";
    }
    batch.clear();
  };
  std::string line;
  while (std::getline(*in, line)) {
    std::string_view id = trimmed(line);
    if (id.empty() || id.front() == '#') continue;
    batch.push_back(SignalRequest{std::string(id), cmd.signal_name, cmd.signal_payload});
    if (batch.size() == kSignalsPerCommit) send();
  }
  send();
  out << "sent signal '" << cmd.signal_name << "' to " << delivered << " run"
      << (delivered == 1 ? "" : "s");
  if (refused > 0) out << "; " << refused << " refused";
  out << "\n";
}

}  // namespace storyloom::cli
