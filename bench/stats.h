// Summaries of latency samples: sorted, then median and nearest-rank percentiles.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <vector>

namespace storyloom::bench {

// Nearest-rank percentile (p in [0, 100]) of samples already sorted ascending.
double percentile_sorted(const std::vector<double>& sorted, double p);
// Median of samples already sorted ascending (mean of the middle two when even).
double median_sorted(const std::vector<double>& sorted);

// {"count","mean","min","p50","p90","p99","p999","max"} of `samples` (sorted in
// place), rounded to three decimals; an empty object when there are none.
boost::json::object summarize(std::vector<double>& samples);

// Rounds to three decimals, so the JSON stays readable.
double round3(double value);

}  // namespace storyloom::bench
