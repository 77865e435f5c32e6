#include "stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace storyloom::bench {

double percentile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

double median_sorted(const std::vector<double>& sorted) {
  if (sorted.empty()) return 0;
  size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

double round3(double value) { return std::round(value * 1000.0) / 1000.0; }

boost::json::object summarize(std::vector<double>& samples) {
  boost::json::object out;
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  double sum = std::accumulate(samples.begin(), samples.end(), 0.0);
  out["count"] = samples.size();
  out["mean"] = round3(sum / static_cast<double>(samples.size()));
  out["min"] = round3(samples.front());
  out["p50"] = round3(median_sorted(samples));
  out["p90"] = round3(percentile_sorted(samples, 90));
  out["p99"] = round3(percentile_sorted(samples, 99));
  out["p999"] = round3(percentile_sorted(samples, 99.9));
  out["max"] = round3(samples.back());
  return out;
}

}  // namespace storyloom::bench
