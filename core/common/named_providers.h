// How the llm and image provider lists are put together: the environment's
// providers, then the configured ones over them by name.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "storyloom/error.h"

namespace storyloom::detail {

// Adds each of `configured` to `providers`, replacing one of the same name.
// `what` ("an llm provider") names the kind when one has no name.
template <class Provider>
void put_providers_by_name(std::vector<Provider>& providers, const std::vector<Provider>& configured,
                           const std::string& what) {
  for (const auto& p : configured) {
    if (p.name.empty()) throw Error(ErrorCode::invalid_argument, what + " needs a name");
    auto same = std::find_if(providers.begin(), providers.end(),
                             [&](const Provider& q) { return q.name == p.name; });
    if (same != providers.end()) {
      *same = p;
    } else {
      providers.push_back(p);
    }
  }
}

// True when a provider is named `name`.
template <class Provider>
bool has_provider(const std::vector<Provider>& providers, const std::string& name) {
  return std::any_of(providers.begin(), providers.end(),
                     [&](const Provider& p) { return p.name == name; });
}

}  // namespace storyloom::detail
