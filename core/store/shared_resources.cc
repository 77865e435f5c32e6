// The arithmetic of a shared resource row, the same for every store: the same
// token-bucket rules as the in-memory limiter (scheduler/resource_limiter.cc).
#include "store/shared_resources.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace storyloom::store::shared {
namespace {

constexpr double kSlack = 1e-6;  // a bucket refilled for exactly one period holds one request
constexpr double kMinuteMs = 60'000;
constexpr double kUnlimited = std::numeric_limits<double>::infinity();

double request_capacity(const ResourceLimits& l) {
  if (l.requests <= 0) return 0;
  return l.burst > 0 ? l.burst : std::max(l.requests, 1.0);
}

double request_period(const ResourceLimits& l) {
  return static_cast<double>(std::max<int64_t>(l.period.count(), 1));
}

// Ms until a bucket at `level` holds `amount` (0 when it does now).
double ms_until(double level, double amount, double refill, double period_ms) {
  if (level + kSlack >= amount) return 0;
  return (amount - level) * period_ms / refill;
}

}  // namespace

SharedResourceRow fresh_row(const std::string& name, const ResourceLimits& limits, int64_t now_ms) {
  SharedResourceRow row;
  row.name = name;
  row.limits = limits;
  row.request_level = request_capacity(limits);
  row.token_level = limits.tokens_per_minute;
  row.updated_ms = now_ms;
  return row;
}

void refill(SharedResourceRow& row, int64_t now_ms) {
  if (now_ms <= row.updated_ms) return;
  double elapsed = static_cast<double>(now_ms - row.updated_ms);
  double cap = request_capacity(row.limits);
  if (cap > 0) {
    row.request_level = std::min(
        cap, row.request_level + elapsed * row.limits.requests / request_period(row.limits));
  }
  double tpm = row.limits.tokens_per_minute;
  if (tpm > 0) row.token_level = std::min(tpm, row.token_level + elapsed * tpm / kMinuteMs);
  row.updated_ms = now_ms;
}

void set_limits(SharedResourceRow& row, const ResourceLimits& limits, int64_t now_ms) {
  refill(row, now_ms);
  double old_cap = request_capacity(row.limits), new_cap = request_capacity(limits);
  row.request_level = old_cap > 0 ? std::min(row.request_level, new_cap) : new_cap;
  double old_tpm = row.limits.tokens_per_minute, new_tpm = limits.tokens_per_minute;
  row.token_level = old_tpm > 0 ? std::min(row.token_level, new_tpm) : new_tpm;
  row.limits = limits;
}

SharedAdmission admit(SharedResourceRow& row, double cost, int64_t now_ms) {
  SharedAdmission out;
  out.paused_until_ms = row.paused_until_ms > now_ms ? row.paused_until_ms : 0;
  const ResourceLimits& l = row.limits;
  if (l.max_in_flight > 0 && row.in_flight >= l.max_in_flight) {
    out.retry_in_ms = -1;
    return out;
  }
  double wait = 0;
  double cap = request_capacity(l);
  if (cap > 0) wait = ms_until(row.request_level, 1, l.requests, request_period(l));
  double tpm = l.tokens_per_minute;
  // A request larger than the whole budget waits for a full one.
  if (tpm > 0) wait = std::max(wait, ms_until(row.token_level, std::min(cost, tpm), tpm, kMinuteMs));
  if (out.paused_until_ms > 0) wait = std::max(wait, static_cast<double>(out.paused_until_ms - now_ms));
  if (wait > 0) {
    out.retry_in_ms = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)));
    return out;
  }
  if (cap > 0) row.request_level -= 1;
  if (tpm > 0) row.token_level -= cost;
  ++row.in_flight;
  out.admitted = true;
  return out;
}

void apply(SharedResourceRow& row, const SharedResourceUpdate& update, int64_t now_ms) {
  refill(row, now_ms);
  if (update.limits) set_limits(row, *update.limits, now_ms);
  if (row.limits.tokens_per_minute > 0 && update.tokens_returned != 0) {
    row.token_level = std::min(row.limits.tokens_per_minute, row.token_level + update.tokens_returned);
  }
  row.paused_until_ms = std::max(row.paused_until_ms, update.pause_until_ms);
  if (update.requests_left && request_capacity(row.limits) > 0) {
    row.request_level = std::min(row.request_level, *update.requests_left);
  }
  if (update.tokens_left && row.limits.tokens_per_minute > 0) {
    row.token_level = std::min(row.token_level, *update.tokens_left);
  }
}

double request_level_shown(const SharedResourceRow& row) {
  return request_capacity(row.limits) > 0 ? row.request_level : kUnlimited;
}

double token_level_shown(const SharedResourceRow& row) {
  return row.limits.tokens_per_minute > 0 ? row.token_level : kUnlimited;
}

}  // namespace storyloom::store::shared
