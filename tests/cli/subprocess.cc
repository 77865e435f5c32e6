#include "subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace storyloom::testing {

Subprocess::Subprocess(const std::vector<std::string>& argv) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  started_at_ = Clock::now();
  int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  if (rc != 0) {
    close(out_fd_);
    close(err_fd_);
    throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  }
}

Subprocess::~Subprocess() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    reap(true);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

void Subprocess::reap(bool block) {
  if (exited_) return;
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got != pid_) return;
  exited_ = true;
  exited_at_ = Clock::now();
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool Subprocess::pump(Clock::time_point deadline) {
  pollfd fds[2];
  nfds_t count = 0;
  if (out_fd_ >= 0) fds[count++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[count++] = {err_fd_, POLLIN, 0};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  if (count == 0) {
    // Both pipes closed: the child is exiting. Wait for it in short steps.
    reap(false);
    if (!exited_) poll(nullptr, 0, 5);
    return true;
  }
  int ready = poll(fds, count, static_cast<int>(left.count()));
  if (ready < 0 && errno == EINTR) return true;
  if (ready <= 0) return false;
  for (nfds_t i = 0; i < count; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[4096];
    ssize_t n = read(fds[i].fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    bool is_out = fds[i].fd == out_fd_;
    if (n <= 0) {
      close(fds[i].fd);
      (is_out ? out_fd_ : err_fd_) = -1;
    } else {
      (is_out ? out_ : err_).append(buf, static_cast<size_t>(n));
    }
  }
  return true;
}

bool Subprocess::wait(std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!exited_) {
    if (!pump(deadline)) return false;
  }
  return true;
}

bool Subprocess::read_until(const std::function<bool(const std::string&)>& done,
                            std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!done(out_)) {
    if (exited_ || !pump(deadline)) return done(out_);
  }
  return true;
}

void Subprocess::send_signal(int signal) {
  if (!exited_) kill(pid_, signal);
}

ProgramResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  Subprocess child(argv);
  bool finished = child.wait(limit);
  EXPECT_TRUE(finished) << argv[0] << " did not finish within " << limit.count() << " ms";
  return ProgramResult{child.exit_code(), child.out(), child.err()};
}

}  // namespace storyloom::testing
