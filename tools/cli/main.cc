// storyloom: reads and changes the runs of a storyloom store from a shell.
#include <iostream>
#include <string_view>
#include <vector>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "ui/ui_command.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int fail(std::string_view code, std::string_view message) {
  std::cerr << "storyloom: " << code << ": " << message << "\n";
  return kExitError;
}

int run(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  using namespace storyloom::cli;
  // Everything printed, errors included, goes through the control-character filter.
  TerminalSafeBuf safe_out(std::cout.rdbuf());
  TerminalSafeBuf safe_err(std::cerr.rdbuf());
  std::streambuf* real_out = std::cout.rdbuf(&safe_out);
  std::streambuf* real_err = std::cerr.rdbuf(&safe_err);
  int status = run(argc, argv);
  std::cout.flush();
  std::cerr.flush();
  std::cout.rdbuf(real_out);
  std::cerr.rdbuf(real_err);
  return status;
}

namespace {

int run(int argc, char** argv) {
  using namespace storyloom::cli;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (ui::names_ui_command(args)) return ui::run_ui(args);  // a server, not a one-shot command
  CommandLine cmd;
  try {
    cmd = parse_args(std::vector<std::string_view>(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::cerr << "storyloom: " << e.what() << "\n\n" << usage();
    return kExitUsage;
  }
  if (cmd.command == Command::help) {
    std::cout << usage();
    return 0;
  }
  try {
    if (is_read_command(cmd)) {
      auto reader = open_reader(cmd.db);
      run_read_command(*reader, cmd, std::cout);
    } else {
      auto engine = open_store(cmd.db);
      run_command(*engine, cmd, std::cout);
      engine->close();
    }
  } catch (const storyloom::Error& e) {
    return fail(storyloom::to_string(e.code()), e.what());
  } catch (const std::exception& e) {
    return fail("internal", e.what());
  }
  if (!std::cout.flush()) {
    std::cerr << "storyloom: cannot write to standard output\n";
    return kExitError;
  }
  return 0;
}

}  // namespace
