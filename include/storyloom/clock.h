// Time is injected so tests can move it by hand and never sleep real seconds.
#pragma once

#include <atomic>
#include <cstdint>

namespace storyloom {

// The longest duration any API accepts (sleep, signal wait, step and run
// timeouts, backoffs, engine intervals): 100 years, 3'155'760'000'000 ms.
// Longer values are refused with Error(invalid_argument) naming the
// parameter, never turned into "now" by an overflow. Where a duration is
// optional (a signal wait's timeout), leaving it out means "no limit".
inline constexpr int64_t kMaxDurationMs = 3'155'760'000'000;

// Milliseconds since the Unix epoch. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
};

// Wall-clock time.
class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
};

// A clock that moves only when told to. The engine polls timers a few times
// per real tenth of a second, so a test that advances it sees wake-ups promptly.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void advance_ms(int64_t delta) { now_.fetch_add(delta); }
  void set_ms(int64_t value) { now_.store(value); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace storyloom
