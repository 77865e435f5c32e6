// The built-in image step: memoized like a host step, one picture asked of
// an OpenAI-compatible images endpoint through the engine's HttpClient (or
// drawn offline on its I/O thread), admitted through the provider's
// resource, its attempts retried per policy. The picture and the step's
// result are stored in one commit.
#include <future>

#include "engine/artifact_bytes.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/validate.h"
#include "image/images_protocol.h"
#include "llm/llm_client.h"
#include "llm/llm_errors.h"
#include "store/row_codec.h"
#include "storyloom/context.h"

namespace storyloom::detail {
namespace {

// Stops an image step's transfer (or its offline drawing before it starts);
// kept with the llm steps' calls so a cancel, a step timeout or the end of
// the execution stops it alike.
class ImageCall final : public LlmCall {
 public:
  void cancel() override {
    std::shared_ptr<HttpTransfer> transfer;
    {
      std::lock_guard lock(mutex_);
      if (cancelled_) return;
      cancelled_ = true;
      transfer = transfer_;
    }
    if (transfer) transfer->cancel();
  }
  // Keeps the transfer to stop; false when cancel() came first (stop it then).
  bool attach(std::shared_ptr<HttpTransfer> transfer) {
    std::lock_guard lock(mutex_);
    transfer_ = std::move(transfer);
    return !cancelled_;
  }
  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::shared_ptr<HttpTransfer> transfer_;
};

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

// One attempt's response as it arrives (I/O thread only).
struct Response {
  HttpResponseHead head;
  std::string body;
  bool too_large = false;
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
  int64_t seq = 0;
  int attempt = 1;
  std::optional<ImageOutcome> memoized;
  ImageProviderConfig provider;
  std::string model, size;
  {
    std::lock_guard lock(mutex_);
    auto pos = next_position(name, "image");
    seq = pos.seq;
    if (pos.stored && pos.stored->status == "failed") {
      memoized.emplace();
      memoized->memoized = true;
      memoized->error = stored_step_error(*pos.stored);
    } else if (pos.stored && pos.stored->status == "completed") {
      memoized.emplace();
      memoized->memoized = true;
      memoized->result = image_result_from_json(store::decode_stored_json(
          pos.stored->result, run_id(), "the result of image step '" + pos.stored->name + "'"));
    } else {
      // Only a new attempt needs its provider: a replay returns what is stored.
      provider = providers.provider(request.provider);  // throws not_found
      model = providers.model_for(request);
      size = providers.size_for(request);
      std::string label = "image step '" + std::string(name) + "'";
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
      attempt = begin_attempt(pos, name, "image", retry);
    }
  }
  if (memoized) return done(std::move(*memoized));

  auto self = shared_from_this();
  auto call = std::make_shared<ImageCall>();
  const std::string label = "image step '" + std::string(name) + "'";
  auto secrets = std::make_shared<const std::vector<std::string>>(providers.secrets());

  // How the attempt ended: stored (the workflow sees it once committed) or failed.
  auto finish = [self, seq, done, artifact = request.artifact, provider_name = provider.name,
                 model](std::optional<ReceivedPicture> picture, std::optional<Error> error) {
    {
      std::lock_guard lock(self->mutex_);
      self->llm_calls_.erase(seq);
    }
    ImageOutcome out;
    if (picture) {
      ImageResult result;
      result.artifact = artifact;
      result.content_type = picture->content_type;
      result.bytes = static_cast<int64_t>(picture->bytes.size());
      result.width = picture->width;
      result.height = picture->height;
      result.provider = provider_name;
      result.model = model;
      result.revised_prompt = std::move(picture->revised_prompt);
      std::shared_ptr<int64_t> version;
      try {
        version = self->complete_image_step(seq, result, std::move(picture->bytes));
      } catch (const Error& e) {
        if (e.code() == ErrorCode::payload_too_large) {
          error = e;  // a picture over the limit fails the attempt, for good
        } else {
          out.error = e;  // the execution ended (a timeout) meanwhile
          return done(std::move(out));
        }
      }
      if (version) {
        self->when_durable([out = std::move(out), result = std::move(result), version,
                            done](std::optional<Error> lost) mutable {
          if (lost) {
            out.error = std::move(lost);
          } else {
            result.version = *version;
            out.result = std::move(result);
          }
          done(std::move(out));
        });
        return;
      }
    }
    out.error = std::move(error);
    // A cancelled run or a closing engine is not the step's failure: nothing to
    // record, but the attempt's report says how it ended.
    bool stopped =
        out.error->code() == ErrorCode::cancelled || out.error->code() == ErrorCode::closed;
    if (stopped) self->report_attempt_stopped(seq, *out.error);
    if (!stopped) {
      try {
        out.will_retry = self->fail_step(seq, *out.error).will_retry;
      } catch (const Error&) {
        // The step was already failed (by its timeout) or the execution ended.
      }
    }
    done(std::move(out));
  };

  auto stopped_error = [self, label]() {
    if (self->core_->closing()) return Error(ErrorCode::closed, label + ": the engine is closing");
    return Error(ErrorCode::cancelled, label + ": the request was cancelled");
  };

  // Draws the offline picture on the HTTP client's I/O thread (never on the
  // writer's or the limiter's thread, which must stay quick).
  auto draw = [self, call, finish, stopped_error, label, prompt = request.prompt, size,
               drawer = providers.offline_drawer()]() {
    auto task = std::make_shared<QueuedDraw>();
    task->on_dropped = [finish, stopped_error]() { finish(std::nullopt, stopped_error()); };
    self->core_->llm().http().run_after(std::chrono::milliseconds(0), [=]() {
      task->ran = true;
      if (call->cancelled()) return finish(std::nullopt, stopped_error());
      auto [width, height] = parse_image_size(size, label + " size");
      try {
        finish(sniff_picture(drawer(prompt, width, height)), std::nullopt);
      } catch (const Error& e) {
        finish(std::nullopt, Error(ErrorCode::step_failed,
                                   label + ": the offline drawer failed: " + e.what(),
                                   ErrorClass::fatal));
      } catch (const std::exception& e) {
        finish(std::nullopt, Error(ErrorCode::step_failed,
                                   label + ": the offline drawer failed: " + e.what(),
                                   ErrorClass::fatal));
      }
    });
  };

  // Sends the request (once admitted by the resource).
  auto send = [self, seq, call, secrets, label, finish, stopped_error, provider, model,
               wire = images_request(provider, request, model, size,
                                     run_id() + ":" + std::to_string(seq)),
               max_bytes = core_->options().max_artifact_bytes]() mutable {
    auto response = std::make_shared<Response>();
    // base64 is 4/3 of the picture, and the JSON around it is small.
    size_t max_body = max_bytes / 3 * 4 + 65536;
    HttpCallbacks cb;
    cb.on_head = [response](const HttpResponseHead& head) { response->head = head; };
    cb.on_body = [self, seq, response, max_body](std::string_view bytes) {
      if (response->body.size() + bytes.size() > max_body) {
        response->too_large = true;
        throw Error(ErrorCode::payload_too_large, "over the picture limit");  // ends the transfer
      }
      response->body.append(bytes);
      try {
        self->heartbeat(seq);  // a body that keeps coming is alive, whatever its step timeout
      } catch (const Error&) {
      }
    };
    cb.on_done = [self, response, secrets, label, finish, stopped_error, provider, model,
                  max_bytes](const HttpOutcome& outcome) {
      LlmProviderConfig named = as_llm_provider(provider);
      if (response->too_large) {
        return finish(std::nullopt,
                      Error(ErrorCode::payload_too_large,
                            label + ": the picture is over the artifact limit of " +
                                std::to_string(max_bytes) + " bytes (max_artifact_bytes)"));
      }
      if (outcome.kind == HttpOutcome::Kind::cancelled) return finish(std::nullopt, stopped_error());
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
    auto transfer = self->core_->llm().http().start(std::move(wire), std::move(cb));
    if (!call->attach(transfer)) transfer->cancel();  // cancelled before it was known
  };

  // Nothing goes out before every earlier write of the run is committed: a
  // crash must not find a picture paid for with nothing before it stored.
  bool offline = provider.kind == ImageProviderKind::offline;
  when_durable([self, seq, attempt, call, finish, send, draw, stopped_error, offline,
                resource = ImageProviders::resource_of(provider), provider_name = provider.name,
                model, size, artifact = request.artifact,
                name = std::string(name)](std::optional<Error> lost) mutable {
    if (lost) return finish(std::nullopt, std::move(lost));
    bool stop_now = false;
    {
      std::lock_guard lock(self->mutex_);
      auto it = self->stored_.find(seq);
      stop_now = self->cancelled_.load() || self->finished_ || it == self->stored_.end() ||
                 it->second.status != "begun";
      if (!stop_now) self->llm_calls_[seq] = call;
    }
    if (stop_now) return finish(std::nullopt, stopped_error());
    auto start = [self, seq, attempt, offline, send, draw, provider_name, model, size, artifact,
                  name]() mutable {
      {
        std::lock_guard lock(self->mutex_);
        if (!self->finished_ && !self->cancelled_) {
          self->submit_locked([run = self->run_id(),
                               data = boost::json::object{{"seq", seq},
                                                          {"name", name},
                                                          {"attempt", attempt},
                                                          {"provider", provider_name},
                                                          {"model", model},
                                                          {"size", size},
                                                          {"artifact", artifact}}](Batch& b) {
            b.event(run, "image.attempt", data);
          });
        }
      }
      if (offline) return draw();
      send();
    };
    auto wait = self->core_->resources().acquire(
        resource, 0,
        [self, seq, finish, start, stopped_error](ResourcePermit permit,
                                                  const Error* error) mutable {
          if (error) return finish(std::nullopt, *error);
          bool wanted = false;
          {
            std::lock_guard lock(self->mutex_);
            auto it = self->stored_.find(seq);
            wanted = !self->finished_ && it != self->stored_.end() && it->second.status == "begun";
            // Returned when the step completes or fails; a 429 pauses the resource then.
            if (wanted) self->step_permits_[seq].push_back(std::move(permit));
          }
          if (!wanted) return finish(std::nullopt, stopped_error());  // ended meanwhile
          start();
        });
    bool stopped = false;
    {
      std::lock_guard lock(self->mutex_);
      stopped = self->cancelled_.load() || self->finished_;
      if (!stopped && wait) self->step_waits_[seq].push_back(wait);
    }
    if (stopped && wait) wait->cancel();
  });
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
