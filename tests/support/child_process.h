// Worker processes for the tests that kill, race or share a store between
// processes: start a program with its arguments, wait for it to end.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace storyloom::testing {

// Starts `argv[0]` with the arguments `argv` (argv[0] included) in a child
// process and returns its pid; a child that cannot exec exits with 127.
inline pid_t spawn_program(std::vector<std::string> argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Waits for the child: its exit status, or minus the signal that ended it.
inline int exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace storyloom::testing
