#include "args.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <new>

#include "storyloom/storyloom.h"

namespace storyloom::capi {

void Args::invalid(std::string_view message) const {
  throw Error(ErrorCode::invalid_argument, std::string(function_) + ": " + std::string(message));
}

std::string_view Args::text(const char* pointer, size_t len, const char* name) const {
  if (pointer == nullptr) {
    if (len != 0) {
      invalid(std::string(name) + " is NULL but its length is " + std::to_string(len));
    }
    return {};
  }
  return {pointer, len};
}

Json Args::json(const char* pointer, size_t len, const char* name) const {
  if (pointer == nullptr) invalid(std::string(name) + " is NULL");
  // The hard cap only: the engine applies its own max_json_depth, naming it.
  return parse_json({pointer, len}, std::string(function_) + ": " + name, kMaxJsonDepthLimit);
}

ErrorClass Args::error_class(int value, const char* name) const {
  switch (value) {
    case SL_CLASS_RETRYABLE: return ErrorClass::retryable;
    case SL_CLASS_FATAL: return ErrorClass::fatal;
    case SL_CLASS_RATE_LIMITED: return ErrorClass::rate_limited;
    case SL_CLASS_TIMEOUT: return ErrorClass::timeout;
    default:
      invalid(std::string(name) + " is " + std::to_string(value) +
              ", not SL_CLASS_RETRYABLE, SL_CLASS_FATAL, SL_CLASS_RATE_LIMITED or SL_CLASS_TIMEOUT");
  }
}

void Args::bad_version(const char* type, unsigned int version, unsigned int supported) const {
  std::string init(type);
  for (char& c : init) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  init += "_INIT";
  if (version == 0) {
    invalid(std::string(type) + ".version is 0; initialise the struct with " + init);
  }
  invalid(std::string(type) + ".version is " + std::to_string(version) +
          ", but this library knows versions 1 to " + std::to_string(supported) +
          " (was the caller built against a newer storyloom.h?)");
}

OutText::OutText(const Args& args, char** out, size_t* out_len, const char* name)
    : out_(&args.out(out, name)), out_len_(out_len) {
  if (out_len_ != nullptr) *out_len_ = 0;
}

void OutText::set(std::string_view text) {
  *out_ = copy_out(text);
  if (out_len_ != nullptr) *out_len_ = text.size();
}

char* copy_out(std::string_view text) {
  auto* buffer = static_cast<char*>(std::malloc(text.size() + 1));
  if (buffer == nullptr) throw std::bad_alloc();
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return buffer;
}

}  // namespace storyloom::capi
