// Status: how every C entry point turns C++ exceptions into a status code and
// the calling thread's last error.
#pragma once

#include <string_view>

#include "storyloom/storyloom.h"

namespace storyloom::capi {

// Records the calling thread's last error (message + detail) and returns
// `code`. Never throws.
int set_last_error(int code, int error_class, std::string_view message,
                   std::string_view detail = {}) noexcept;

// Maps the exception in flight to a status and records it as the last error.
// Call only inside a catch block.
int status_from_current_exception() noexcept;

// Runs `body`; SL_OK when it returns, else the status of what it threw.
template <class Body>
int guarded(Body&& body) noexcept {
  try {
    body();
    return SL_OK;
  } catch (...) {
    return status_from_current_exception();
  }
}

}  // namespace storyloom::capi
