// The HTTP server of `storyloom ui` (Boost.Beast): a thread per connection,
// static assets and the Inspector's JSON API, and Server-Sent Events for a
// run's events (stored ones after the requested id, then new ones as the
// store gets them). Stops on SIGINT/SIGTERM.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "inspector.h"

namespace storyloom::cli::ui {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7777;  // 0: any free port
};

// Binds, calls `on_listening` with the URL served, then serves until SIGINT or
// SIGTERM; returns once every connection is closed. Throws std::exception
// when the address cannot be bound.
void serve(Inspector& inspector, const ServerOptions& options,
           const std::function<void(const std::string& url)>& on_listening);

}  // namespace storyloom::cli::ui
