// JSON-schema structured output: checking an answer against the schema a
// request gave, and the offline provider's deterministic filling of one.
// The supported subset is what the providers' structured-output modes
// accept: type (one or a list), properties, required, additionalProperties
// (false), items, enum, const, minItems/maxItems, minLength/maxLength,
// minimum/maximum, anyOf. Other keywords are accepted and not checked.
#pragma once

#include <string>
#include <string_view>

#include "storyloom/json.h"

namespace storyloom::detail {

// "" when `value` matches `schema`, else the first mismatch with its JSON
// path, e.g. "$.chapters[2].title: expected a string, got 3".
std::string schema_mismatch(const Json& schema, const Json& value);

// A value matching `schema`, the same for the same schema and `seed` (words
// from the prompt fill its strings).
Json fill_schema(const Json& schema, std::string_view seed);

}  // namespace storyloom::detail
