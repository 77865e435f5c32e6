// A child process with its standard output and error captured, for running the
// `storyloom` program from tests. Nothing here sleeps for a fixed time: reads
// wait on the pipes with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace storyloom::testing {

class Subprocess {
 public:
  using Clock = std::chrono::steady_clock;

  // argv[0] is the program's path. Standard input is /dev/null.
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();  // kills and reaps the child if it is still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Reads until the child has closed both pipes and exited; false if `limit` passed first.
  bool wait(std::chrono::milliseconds limit);
  // Reads until `done(stdout so far)` holds; false if the child exited or `limit` passed first.
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::milliseconds limit);
  void send_signal(int signal);

  bool exited() const { return exited_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  // The exit status, or 128 + the signal number when a signal ended it; -1 while running.
  int exit_code() const { return exit_code_; }
  Clock::time_point started_at() const { return started_at_; }
  Clock::time_point exited_at() const { return exited_at_; }

 private:
  // One round of reading; false when the deadline passed with nothing to do.
  bool pump(Clock::time_point deadline);
  void reap(bool block);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string out_;
  std::string err_;
  Clock::time_point started_at_;
  Clock::time_point exited_at_;
};

struct ProgramResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the program to its end (fails the calling test if it takes over `limit`).
ProgramResult run_program(const std::vector<std::string>& argv,
                          std::chrono::milliseconds limit = std::chrono::seconds(20));

}  // namespace storyloom::testing
