// The query string of an inspector request, percent-decoded, and the checks
// every parameter goes through: a bad value is an ApiError (HTTP 400) naming
// the parameter and the value, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace storyloom::cli::ui {

// An answer other than 200, with the message the JSON body carries.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

// "%41+b" -> "A b". Throws ApiError(400) for a truncated or non-hex escape.
std::string percent_decode(std::string_view text, std::string_view what);

class QueryParams {
 public:
  // `query` is what follows '?' (may be empty). A name given twice is refused.
  explicit QueryParams(std::string_view query);

  // The value, or nullopt when absent or empty.
  std::optional<std::string> text(std::string_view name) const;
  // A whole number in [min, max]; nullopt when absent or empty.
  std::optional<int64_t> integer(std::string_view name, int64_t min, int64_t max) const;
  // Refuses any parameter not in `known` (a typo would otherwise filter nothing).
  void only(std::initializer_list<std::string_view> known) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// Parses a whole number in [min, max]; `what` names it in the error.
int64_t parse_integer(std::string_view text, std::string_view what, int64_t min, int64_t max);

}  // namespace storyloom::cli::ui
