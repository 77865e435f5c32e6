// ImageProviders: the image step's providers (storyloom/image.h), resolved
// once when the engine opens: from the options and the environment, checked,
// each with its resource created in the limiter, and every key kept to be
// redacted from every error.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "scheduler/resource_limiter.h"
#include "storyloom/image.h"

namespace storyloom::detail {

class ImageProviders {
 public:
  // Throws Error(invalid_argument) naming the provider and the field that is
  // wrong (no name, no key at the public endpoint, a bad base URL or size).
  ImageProviders(const ImageOptions& options, ResourceLimiter& limiter,
                 const std::function<const char*(const char*)>& getenv);

  // The provider a request naming `name` ("" for the default) goes to.
  // Throws Error(not_found) naming the configured providers.
  const ImageProviderConfig& provider(const std::string& name) const;
  // The request's own model and size, else its provider's.
  std::string model_for(const ImageRequest& request) const;
  std::string size_for(const ImageRequest& request) const;
  // The resource a provider's requests use: its own, else "image:<name>".
  static std::string resource_of(const ImageProviderConfig& provider);
  const std::vector<std::string>& secrets() const { return secrets_; }
  const ImageDrawer& offline_drawer() const { return drawer_; }
  // {"default","providers":[{"name","kind","base_url","model","size","resource","has_key"}]}; no keys.
  Json describe() const;

 private:
  std::vector<ImageProviderConfig> providers_;
  std::string default_provider_;
  std::vector<std::string> secrets_;
  ImageDrawer drawer_;
};

}  // namespace storyloom::detail
