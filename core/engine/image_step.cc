// The built-in image step: memoized like a host step, one picture asked of
// an OpenAI-compatible images endpoint through the engine's HttpClient (or
// drawn offline on its I/O thread), admitted through the provider's
// resource, its attempts retried per policy. The picture and the step's
// result are stored in one commit.
#include <future>

#include "engine/artifact_bytes.h"
#include "engine/builtin_attempt.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/provider_transfer.h"
#include "engine/validate.h"
#include "image/images_protocol.h"
#include "llm/llm_client.h"
#include "llm/llm_errors.h"
#include "store/row_codec.h"
#include "storyloom/context.h"

namespace storyloom::detail {
namespace {

// An offline drawing queued on the HTTP client's I/O thread. A closing
// client drops queued work without running it: the task then ends the step
// itself (Error(closed)) as it is destroyed, so no workflow waits forever.
struct QueuedDraw {
  std::function<void()> on_dropped;
  bool ran = false;
  ~QueuedDraw() {
    if (!ran && on_dropped) on_dropped();
  }
};

// Neither the step nor its workflow chose a policy (as the llm step decides).
bool is_unset(const RetryPolicy& p) {
  const RetryPolicy unset;
  return p.max_attempts == unset.max_attempts && p.initial_backoff == unset.initial_backoff &&
         p.multiplier == unset.multiplier && p.max_backoff == unset.max_backoff &&
         p.jitter == unset.jitter && p.timeout == unset.timeout;
}

// status_error() speaks of LLM providers; an image provider reads the same.
LlmProviderConfig as_llm_provider(const ImageProviderConfig& p) {
  LlmProviderConfig out;
  out.name = p.name;
  out.kind = LlmProviderKind::openai;
  out.api_key = p.api_key;
  return out;
}

Error prefixed(const std::string& label, const Error& e, const std::vector<std::string>& secrets) {
  return Error(e.code(), redact(label + ": " + e.what(), secrets), e.error_class(),
               e.retry_after_ms());
}

}  // namespace

void ExecutionState::image(std::string_view name, ImageRequest request, ImageCallback done,
                           std::optional<RetryPolicy> retry) {
  validate(request);
  if (retry) validate(*retry);
  if (!done) {
    throw Error(ErrorCode::invalid_argument, "image step '" + std::string(name) + "' needs a callback");
  }
  if (!retry && is_unset(workflow_retry_)) retry = default_image_retry_policy();
  if (request.artifact.empty()) request.artifact = std::string(name);
  ImageProviders& providers = core_->images();
  const std::string label = "image step '" + std::string(name) + "'";
  ImageProviderConfig provider;
  std::string model, size;
  BuiltinStart start;
  {
    std::lock_guard lock(mutex_);
    start = start_builtin_locked(name, "image", retry, [&] {
      provider = providers.provider(request.provider);  // throws not_found
      model = providers.model_for(request);
      size = providers.size_for(request);
      if (model.empty()) {
        throw Error(ErrorCode::invalid_argument,
                    label + ": provider '" + provider.name + "' has no default model; name one");
      }
      if (provider.kind == ImageProviderKind::offline && !providers.offline_drawer()) {
        throw Error(ErrorCode::invalid_argument,
                    label + ": the offline image provider has no drawer; set "
                            "ImageOptions::offline_drawer (book::placeholder_png of the "
                            "storyloom_book library draws the placeholder picture)");
      }
    });
  }
  if (start.memoized) return done(memoized_outcome<ImageOutcome>(std::move(start), image_result_from_json));
  const int64_t seq = start.seq;

  auto self = shared_from_this();
  auto call = std::make_shared<TransferCall>();
  auto secrets = std::make_shared<const std::vector<std::string>>(providers.secrets());

  // How the attempt ended: the picture and the result stored in one commit
  // (the workflow sees them once committed), or failed.
  auto finish = [self, seq, done, artifact = request.artifact, provider_name = provider.name,
                 model](std::optional<ReceivedPicture> picture, std::optional<Error> error) {
    auto result = std::make_shared<ImageResult>();
    auto version = std::make_shared<std::shared_ptr<int64_t>>();  // set by the commit
    std::function<std::optional<Error>()> store;
    if (picture) {
      store = [&]() -> std::optional<Error> {
        result->artifact = artifact;
        result->content_type = picture->content_type;
        result->bytes = static_cast<int64_t>(picture->bytes.size());
        result->width = picture->width;
        result->height = picture->height;
        result->provider = provider_name;
        result->model = model;
        result->revised_prompt = std::move(picture->revised_prompt);
        try {
          *version = self->complete_image_step(seq, *result, std::move(picture->bytes));
        } catch (const Error& e) {
          // A picture over the limit fails the attempt, for good; any other
          // error (the execution ended meanwhile) ends it as it is.
          if (e.code() != ErrorCode::payload_too_large) throw;
          return e;
        }
        return std::nullopt;
      };
    }
    self->end_attempt_storing(seq, store, std::move(error),
                              [done, result, version](std::optional<Error> e, bool will_retry) {
                                if (!e) result->version = **version;  // known once durable
                                deliver_outcome(done, result)(std::move(e), will_retry);
                              });
  };

  // Draws the offline picture on the HTTP client's I/O thread (never on the
  // writer's or the limiter's thread, which must stay quick).
  auto draw = [self, call, finish, label, prompt = request.prompt, size,
               drawer = providers.offline_drawer()]() {
    auto task = std::make_shared<QueuedDraw>();
    task->on_dropped = [self, finish, label]() {
      finish(std::nullopt, self->attempt_stopped_error(label));
    };
    self->core_->llm().http().run_after(std::chrono::milliseconds(0), [=]() {
      task->ran = true;
      if (call->cancelled()) return finish(std::nullopt, self->attempt_stopped_error(label));
      auto [width, height] = parse_image_size(size, label + " size");
      try {
        finish(sniff_picture(drawer(prompt, width, height)), std::nullopt);
      } catch (const std::exception& e) {
        finish(std::nullopt, Error(ErrorCode::step_failed,
                                   label + ": the offline drawer failed: " + e.what(),
                                   ErrorClass::fatal));
      }
    });
  };

  // Sends the request (once admitted by the resource).
  auto send = [self, seq, call, secrets, label, finish, provider, model,
               wire = images_request(provider, request, model, size,
                                     run_id() + ":" + std::to_string(seq)),
               max_bytes = core_->options().max_artifact_bytes]() mutable {
    auto response = std::make_shared<CollectedResponse>();
    // base64 is 4/3 of the picture, and the JSON around it is small.
    size_t max_body = max_bytes / 3 * 4 + 65536;
    HttpCallbacks cb = collect_response(response, max_body, [self, seq] {
      try {
        self->heartbeat(seq);
      } catch (const Error&) {
      }
    });
    cb.on_done = [self, response, secrets, label, finish, provider, model,
                  max_bytes](const HttpOutcome& outcome) {
      LlmProviderConfig named = as_llm_provider(provider);
      if (response->too_large) {
        return finish(std::nullopt,
                      Error(ErrorCode::payload_too_large,
                            label + ": the picture is over the artifact limit of " +
                                std::to_string(max_bytes) + " bytes (max_artifact_bytes)"));
      }
      if (outcome.kind == HttpOutcome::Kind::cancelled) {
        return finish(std::nullopt, self->attempt_stopped_error(label));
      }
      if (outcome.kind != HttpOutcome::Kind::completed) {
        return finish(std::nullopt, prefixed(label, transfer_error(named, model, outcome), *secrets));
      }
      long status = response->head.status;
      if (status < 200 || status > 299) {
        auto wait = status == 429 ? retry_after_ms(response->head, self->core_->now_ms())
                                  : std::nullopt;
        Error e = status_error(named, model, status, openai_protocol().error_of(response->body), wait);
        return finish(std::nullopt, prefixed(label, e, *secrets));
      }
      try {
        finish(read_images_response(response->body), std::nullopt);
      } catch (const Error& e) {
        finish(std::nullopt, prefixed(label + ": " + call_label(named, model), e, *secrets));
      }
    };
    call->start(self->core_->llm().http(), std::move(wire), std::move(cb));
  };

  ProviderSend how;
  how.call = call;
  how.resource = ImageProviders::resource_of(provider);
  how.label = label;
  // The attempt's event is written once the resource admitted it.
  how.send = [self, offline = provider.kind == ImageProviderKind::offline, send, draw,
              data = boost::json::object{{"seq", seq},
                                         {"name", std::string(name)},
                                         {"attempt", start.attempt},
                                         {"provider", provider.name},
                                         {"model", model},
                                         {"size", size},
                                         {"artifact", request.artifact}}]() mutable {
    self->llm_event("image.attempt", data);
    if (offline) return draw();
    send();
  };
  how.fail = [finish](Error error) { finish(std::nullopt, std::move(error)); };
  send_when_durable(seq, std::move(how));
}

std::shared_ptr<int64_t> ExecutionState::complete_image_step(int64_t seq, ImageResult& result,
                                                             std::string bytes) {
  HeldResources held;
  std::lock_guard lock(mutex_);
  if (finished_) {
    throw Error(ErrorCode::invalid_state,
                "this execution of run '" + run_id() + "' has already finished");
  }
  auto it = stored_.find(seq);
  if (it == stored_.end() || it->second.status != "begun") {
    throw Error(ErrorCode::invalid_argument,
                "step position " + std::to_string(seq) + " of run '" + run_id() +
                    "' was not begun by this execution or is already finished");
  }
  size_t limit = core_->options().max_artifact_bytes;
  if (bytes.size() > limit) {
    throw Error(ErrorCode::payload_too_large,
                "image step '" + it->second.name + "': the picture is " +
                    std::to_string(bytes.size()) + " bytes; the limit is " +
                    std::to_string(limit) + " (max_artifact_bytes)");
  }
  auto& rec = it->second;
  step_deadlines_.erase(seq);
  held = take_resources_locked(seq);
  Json value = binary_artifact_value(result.content_type, bytes);
  result.sha256 = std::string(value.at("sha256").as_string());
  rec.result = boost::json::serialize(to_json(result));  // the version is known once written
  rec.status = "completed";
  rec.completed_at_ms = core_->now_ms();
  auto version = std::make_shared<int64_t>(0);
  submit_locked([rec, result, version, value = std::move(value),
                 bytes = std::move(bytes)](Batch& b) mutable {
    const std::string& run = rec.run_id;
    std::string text = boost::json::serialize(value);
    // The same picture again (an offline redraw) keeps its version.
    auto latest = b.tx.latest_artifact(run, result.artifact);
    if (latest && latest->content_type == result.content_type && latest->value == text) {
      result.version = latest->version;
    } else {
      result.version = b.tx.insert_binary_artifact(run, result.artifact, result.content_type, text,
                                                   bytes, b.now_ms);
      b.event(run, "artifact", boost::json::object{{"key", result.artifact},
                                                   {"version", result.version},
                                                   {"value", value},
                                                   {"content_type", result.content_type}});
    }
    *version = result.version;
    Json stored = to_json(result);
    rec.result = boost::json::serialize(stored);
    if (b.tx.upsert_step(rec)) {
      b.event(run, "step.completed",
              boost::json::object{{"seq", rec.seq}, {"name", rec.name}, {"result", stored}});
    }
  });
  return version;
}

}  // namespace storyloom::detail

namespace storyloom {

void Execution::image(std::string_view name, ImageRequest request, ImageCallback done,
                      std::optional<RetryPolicy> retry) {
  state_->image(name, std::move(request), std::move(done), std::move(retry));
}

ImageResult Context::image(std::string_view name, ImageRequest request,
                           std::optional<RetryPolicy> retry) {
  // Shared: the callback may still be returning from set_value when get() wakes.
  auto outcome = std::make_shared<std::promise<ImageOutcome>>();
  auto ready = outcome->get_future();
  execution_.image(name, std::move(request),
                   [outcome](ImageOutcome o) { outcome->set_value(std::move(o)); },
                   std::move(retry));
  ImageOutcome o = ready.get();
  if (o.result) return std::move(*o.result);
  if (o.will_retry) throw Parked{};
  throw *o.error;
}

}  // namespace storyloom
