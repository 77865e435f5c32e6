// fake_llm_server [--port N]: the fake LLM server as a program, for the Node
// and Python tests. Prints exactly one line, "port N", then serves until stdin
// reaches EOF (the parent closed it or died) or SIGTERM/SIGINT arrives, and
// exits 0. Nothing else is written to stdout.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "fake_llm_server.h"

namespace {

// The write end of the self-pipe the signal handler uses to wake main().
int signal_pipe_write = -1;

extern "C" void on_stop_signal(int) {
  char byte = 1;
  [[maybe_unused]] ssize_t ignored = ::write(signal_pipe_write, &byte, 1);
}

int usage(const char* problem) {
  std::fprintf(stderr, "fake_llm_server: %s\nusage: fake_llm_server [--port N]\n", problem);
  return 2;
}

bool parse_port(std::string_view text, int& port) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && end == text.data() + text.size() && port >= 0 && port <= 65535;
}

// Returns when stdin reaches EOF (or fails) or a stop signal arrives.
void wait_for_stop(int signal_pipe_read) {
  for (;;) {
    pollfd fds[2] = {{signal_pipe_read, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    if (fds[1].revents & POLLNVAL) return;  // no stdin at all: nobody to wait for
    if (fds[1].revents != 0) {
      char bytes[4096];
      ssize_t n = ::read(STDIN_FILENO, bytes, sizeof bytes);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      if (!parse_port(argv[++i], port)) return usage("--port takes a number from 0 to 65535");
    } else if (arg.substr(0, 7) == "--port=") {
      if (!parse_port(arg.substr(7), port)) return usage("--port takes a number from 0 to 65535");
    } else {
      return usage("unknown argument");
    }
  }

  int signal_pipe[2];
  if (::pipe(signal_pipe) != 0) {
    std::fprintf(stderr, "fake_llm_server: pipe: %s\n", std::strerror(errno));
    return 1;
  }
  signal_pipe_write = signal_pipe[1];
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);

  // The server's threads start with the stop signals blocked, so they arrive here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    storyloom::testing::FakeLlmServer server(port);
    ::pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
    std::printf("port %d\n", server.port());
    std::fflush(stdout);
    wait_for_stop(signal_pipe[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake_llm_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
