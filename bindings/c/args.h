// Args: translates the C arguments of one entry point into C++ values. Every
// error it raises is SL_EINVALID and names the entry point and the parameter.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "storyloom/error.h"
#include "storyloom/json.h"

namespace storyloom::capi {

class Args {
 public:
  // `function` is the entry point's name (__func__), for messages.
  explicit Args(const char* function) noexcept : function_(function) {}

  [[noreturn]] void invalid(std::string_view message) const;

  // A handle or other pointer the call cannot do without.
  template <class T>
  T& required(T* pointer, const char* name) const {
    if (pointer == nullptr) invalid(std::string(name) + " is NULL");
    return *pointer;
  }

  // An out-parameter: must not be NULL; cleared so a failing call leaves NULL / 0.
  template <class T>
  T& out(T* pointer, const char* name) const {
    T& target = required(pointer, name);
    target = T{};
    return target;
  }

  // (pointer, length) text; NULL with length 0 is the empty string.
  std::string_view text(const char* pointer, size_t len, const char* name) const;
  // (pointer, length) JSON text, parsed.
  Json json(const char* pointer, size_t len, const char* name) const;
  ErrorClass error_class(int value, const char* name) const;

  // Checks the `version` field of an options struct (NULL is fine: defaults).
  template <class Options>
  const Options* options(const Options* options, unsigned int supported, const char* type) const {
    if (options != nullptr && (options->version < 1 || options->version > supported)) {
      bad_version(type, options->version, supported);
    }
    return options;
  }

 private:
  [[noreturn]] void bad_version(const char* type, unsigned int version,
                                unsigned int supported) const;
  const char* function_;
};

// A (char** out, size_t* out_len) pair: out must not be NULL, out_len may be.
// Both are cleared on construction; set() hands the caller a NUL-terminated
// copy it frees with sl_free().
class OutText {
 public:
  OutText(const Args& args, char** out, size_t* out_len, const char* name);
  void set(std::string_view text);
  void set_json(const Json& value) { set(to_json_text(value)); }

 private:
  char** out_;
  size_t* out_len_;
};

// A NUL-terminated malloc'ed copy of `text` (what sl_free releases).
char* copy_out(std::string_view text);

}  // namespace storyloom::capi
