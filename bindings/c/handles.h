// The opaque handles of storyloom.h: each wraps the C++ object it stands for.
#pragma once

#include <memory>
#include <string>

#include "storyloom/engine.h"
#include "storyloom/storyloom.h"

struct sl_engine {
  std::unique_ptr<storyloom::Engine> engine;
};

struct sl_execution {
  explicit sl_execution(storyloom::Execution e)
      : execution(std::move(e)), input_json(storyloom::to_json_text(execution.input())) {}
  storyloom::Execution execution;
  std::string input_json;  // what sl_execution_input lends out until finish
};

struct sl_subscription {
  storyloom::Subscription subscription;
};
