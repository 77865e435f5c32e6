// Command-line arguments of the `storyloom` tool: what was asked, already
// checked for shape (known command, required arguments, numbers, JSON), so the
// commands only meet errors the engine reports.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "storyloom/json.h"
#include "storyloom/run.h"

namespace storyloom::cli {

enum class Command {
  help,
  list,
  status,
  events,
  cancel,
  signal,
  signal_many,
  retry,
  artifacts,
  rewind,
  priority,
  export_book,
  webhooks,  // tools/cli/webhooks_command.cc
  resend,
  remove,
};

struct CommandLine {
  Command command = Command::help;
  std::string db;      // the --db value as given: PATH or sqlite:PATH
  std::string run_id;  // every command but list and help (webhooks: the subscription id)

  // list
  RunFilter filter;
  bool json = false;
  bool retry_failed = false;  // retry --failed: every failed run matching `filter`
  bool cancel_many = false;   // cancel --workflow/--status/--owner: every unfinished match

  // rewind
  std::string step_name;
  // priority
  int priority = 0;

  // artifacts --out DIR (empty: print JSON lines)
  std::string out_dir;
  // export --format epub|pdf|md --out FILE
  std::string export_format;
  std::string out_file;

  // events
  int64_t after_event_id = 0;
  bool follow = false;
  bool sse = false;

  // signal, signal-many
  std::string signal_name;
  Json signal_payload;
  std::string runs_file;  // signal-many: run ids, one per line; "-" or empty: stdin
};

// Bad arguments; the message names the offending argument. The tool prints it
// with the usage text and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `args` excludes the program name. Throws UsageError.
CommandLine parse_args(const std::vector<std::string_view>& args);

// The help text, ending in a newline.
const char* usage();

}  // namespace storyloom::cli
