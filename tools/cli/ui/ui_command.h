// `storyloom ui --db STORE [--port N] [--host H] [--read-only]`: serves the
// run inspector (a web app and its JSON API) until Ctrl-C.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace storyloom::cli::ui {

struct UiOptions {
  std::string db;
  std::string host = "127.0.0.1";
  uint16_t port = 7777;
  bool read_only = false;
  bool help = false;
};

// True when the command named in `args` (program name excluded) is `ui`.
bool names_ui_command(const std::vector<std::string_view>& args);

// Throws UsageError (args.h) naming the bad argument.
UiOptions parse_ui_args(const std::vector<std::string_view>& args);

const char* ui_usage();

// Runs the command; returns the process exit status (errors printed to stderr).
int run_ui(const std::vector<std::string_view>& args);

}  // namespace storyloom::cli::ui
