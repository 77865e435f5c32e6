#include "llm/json_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

namespace storyloom::detail {
namespace {

std::string type_of(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_bool()) return "boolean";
  if (v.is_int64() || v.is_uint64()) return "integer";
  if (v.is_double()) {
    double d = v.as_double();
    return std::floor(d) == d && std::isfinite(d) ? "integer" : "number";
  }
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

bool has_type(const Json& v, const std::string& type) {
  std::string actual = type_of(v);
  return actual == type || (type == "number" && actual == "integer");
}

std::string shown(const Json& v) {
  if (v.is_double()) {
    char number[32];
    std::snprintf(number, sizeof number, "%.15g", v.as_double());  // not Boost's 1.5E0
    return number;
  }
  std::string text = boost::json::serialize(v);
  // resize + append rather than substr(0, 57) + "...": GCC 12 warns about the
  // latter (-Warray-bounds, a false positive) when <string> is precompiled.
  if (text.size() > 60) {
    text.resize(57);
    text += "...";
  }
  return text;
}

const Json* keyword(const Json& schema, std::string_view key) {
  if (!schema.is_object()) return nullptr;
  return schema.as_object().if_contains(key);
}

std::optional<double> number_keyword(const Json& schema, std::string_view key) {
  const Json* v = keyword(schema, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string check(const Json& schema, const Json& value, const std::string& path) {
  if (!schema.is_object()) return "";  // true / {} accept anything
  if (const Json* any = keyword(schema, "anyOf"); any && any->is_array()) {
    std::string first;
    for (const auto& option : any->as_array()) {
      std::string why = check(option, value, path);
      if (why.empty()) return "";
      if (first.empty()) first = why;
    }
    return first.empty() ? "" : first + " (and no other anyOf choice matched)";
  }
  if (const Json* type = keyword(schema, "type")) {
    std::vector<std::string> types;
    if (type->is_string()) types.emplace_back(type->as_string());
    if (type->is_array()) {
      for (const auto& t : type->as_array()) {
        if (t.is_string()) types.emplace_back(t.as_string());
      }
    }
    bool ok = types.empty();
    for (const auto& t : types) ok = ok || has_type(value, t);
    if (!ok) {
      std::string expected;
      for (const auto& t : types) expected += (expected.empty() ? "" : " or ") + t;
      const char* article =
          std::string_view("aeiou").find(expected[0]) != std::string_view::npos ? "an " : "a ";
      return path + ": expected " + article + expected + ", got " + shown(value);
    }
  }
  if (const Json* values = keyword(schema, "enum"); values && values->is_array()) {
    bool found = false;
    for (const auto& v : values->as_array()) found = found || v == value;
    if (!found) return path + ": " + shown(value) + " is not one of " + shown(*values);
  }
  if (const Json* c = keyword(schema, "const"); c && *c != value) {
    return path + ": expected " + shown(*c) + ", got " + shown(value);
  }
  if (value.is_string()) {
    size_t n = utf8_length(value.as_string());
    if (auto min = number_keyword(schema, "minLength"); min && n < *min) {
      return path + ": a string of " + std::to_string(n) + " characters, at least " +
             std::to_string(static_cast<int64_t>(*min)) + " expected";
    }
    if (auto max = number_keyword(schema, "maxLength"); max && n > *max) {
      return path + ": a string of " + std::to_string(n) + " characters, at most " +
             std::to_string(static_cast<int64_t>(*max)) + " expected";
    }
  }
  if (value.is_number()) {
    double d = value.to_number<double>();
    if (auto min = number_keyword(schema, "minimum"); min && d < *min) {
      return path + ": " + shown(value) + " is below the minimum " +
             shown(*keyword(schema, "minimum"));
    }
    if (auto max = number_keyword(schema, "maximum"); max && d > *max) {
      return path + ": " + shown(value) + " is above the maximum " +
             shown(*keyword(schema, "maximum"));
    }
  }
  if (value.is_array()) {
    const auto& items = value.as_array();
    if (auto min = number_keyword(schema, "minItems"); min && items.size() < *min) {
      return path + ": " + std::to_string(items.size()) + " items, at least " +
             std::to_string(static_cast<int64_t>(*min)) + " expected";
    }
    if (auto max = number_keyword(schema, "maxItems"); max && items.size() > *max) {
      return path + ": " + std::to_string(items.size()) + " items, at most " +
             std::to_string(static_cast<int64_t>(*max)) + " expected";
    }
    if (const Json* item = keyword(schema, "items")) {
      for (size_t i = 0; i < items.size(); ++i) {
        std::string why = check(*item, items[i], path + "[" + std::to_string(i) + "]");
        if (!why.empty()) return why;
      }
    }
  }
  if (value.is_object()) {
    const auto& o = value.as_object();
    const Json* properties = keyword(schema, "properties");
    if (const Json* required = keyword(schema, "required"); required && required->is_array()) {
      for (const auto& r : required->as_array()) {
        if (r.is_string() && !o.contains(r.as_string())) {
          return path + ": the required property '" + std::string(r.as_string()) + "' is missing";
        }
      }
    }
    const Json* additional = keyword(schema, "additionalProperties");
    for (const auto& [key, v] : o) {
      const Json* property = properties && properties->is_object()
                                 ? properties->as_object().if_contains(key)
                                 : nullptr;
      std::string where = path + "." + std::string(key);
      if (property) {
        std::string why = check(*property, v, where);
        if (!why.empty()) return why;
      } else if (additional && additional->is_bool() && !additional->as_bool()) {
        return path + ": the property '" + std::string(key) + "' is not in the schema";
      } else if (additional && additional->is_object()) {
        std::string why = check(*additional, v, where);
        if (!why.empty()) return why;
      }
    }
  }
  return "";
}

// Deterministic words from the seed, cycling.
class Words {
 public:
  explicit Words(std::string_view seed) {
    std::string word;
    for (char c : seed) {
      bool letter =
          std::isalnum(static_cast<unsigned char>(c)) || (static_cast<unsigned char>(c) & 0x80);
      if (letter) {
        word.push_back(c);
      } else if (!word.empty()) {
        if (word.size() > 3) words_.push_back(word);
        word.clear();
      }
    }
    if (word.size() > 3) words_.push_back(word);
    if (words_.empty()) words_ = {"placeholder", "offline", "text"};
  }
  std::string next(size_t count) {
    std::string out;
    for (size_t i = 0; i < count; ++i) {
      out += (out.empty() ? "" : " ") + words_[at_++ % words_.size()];
    }
    return out;
  }

 private:
  std::vector<std::string> words_;
  size_t at_ = 0;
};

Json fill(const Json& schema, Words& words, const std::string& name, int depth) {
  if (!schema.is_object() || depth > 16) return nullptr;
  if (const Json* c = keyword(schema, "const")) return *c;
  if (const Json* values = keyword(schema, "enum");
      values && values->is_array() && !values->as_array().empty()) {
    return values->as_array().front();
  }
  if (const Json* any = keyword(schema, "anyOf");
      any && any->is_array() && !any->as_array().empty()) {
    return fill(any->as_array().front(), words, name, depth + 1);
  }
  std::string type;
  if (const Json* t = keyword(schema, "type")) {
    if (t->is_string()) type = std::string(t->as_string());
    if (t->is_array() && !t->as_array().empty() && t->as_array().front().is_string()) {
      type = std::string(t->as_array().front().as_string());
    }
  }
  if (type.empty()) type = keyword(schema, "properties") ? "object" : "string";
  if (type == "object") {
    boost::json::object o;
    if (const Json* properties = keyword(schema, "properties");
        properties && properties->is_object()) {
      for (const auto& [key, sub] : properties->as_object()) {
        o[key] = fill(sub, words, std::string(key), depth + 1);
      }
    }
    return o;
  }
  if (type == "array") {
    auto min = number_keyword(schema, "minItems").value_or(0);
    auto max = number_keyword(schema, "maxItems").value_or(3);
    size_t n = static_cast<size_t>(std::max<double>(min, std::min<double>(3, max)));
    boost::json::array a;
    const Json* item = keyword(schema, "items");
    for (size_t i = 0; i < n; ++i)
      a.push_back(item ? fill(*item, words, name, depth + 1) : Json("item"));
    return a;
  }
  if (type == "integer" || type == "number") {
    double v = number_keyword(schema, "minimum").value_or(1);
    if (auto max = number_keyword(schema, "maximum"); max && v > *max) v = *max;
    if (type == "integer") return static_cast<int64_t>(std::ceil(v));
    return v;
  }
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  // A string: a few words, within the length limits.
  std::string text = words.next(name == "title" || name == "name" ? 3 : 6);
  auto min = static_cast<size_t>(number_keyword(schema, "minLength").value_or(0));
  auto max = number_keyword(schema, "maxLength");
  while (utf8_length(text) < min) {
    text += ' ';
    text += words.next(1);  // appended in two steps: GCC 12 -O3 warns (-Wrestrict) on " " + string&&
  }
  if (max) {
    size_t limit = static_cast<size_t>(*max);
    size_t cut = 0, chars = 0;
    while (cut < text.size() && chars < limit) {
      ++cut;
      while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
      ++chars;
    }
    text.resize(cut);
  }
  return Json(text);
}

}  // namespace

std::string schema_mismatch(const Json& schema, const Json& value) {
  return check(schema, value, "$");
}

Json fill_schema(const Json& schema, std::string_view seed) {
  Words words(seed);
  return fill(schema, words, "", 0);
}

}  // namespace storyloom::detail
