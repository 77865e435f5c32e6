// Claiming queued runs for this engine's free execution slots. The scheduler
// thread claims when woken (a start, a due timer, another process). A run
// that ends instead leaves its slot to the writer: the claim of the next run
// is the tail of the batch that records the end, so one commit both ends a
// run and starts the next (writer.h, set_tail).
//
// The engine also claims a few runs more than it has slots (kClaimAhead):
// they wait in ready_, and one starts the moment a run ends. Its first write
// then shares a commit with that end (Writer::Urgency::soon), where without
// it the end, then the claim's commit, then the first write would each wait
// for a commit in turn. A ready run is `running` in the store, under this
// engine's lease, like any claimed run.
#include "engine/concurrency.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"

namespace storyloom::detail {
namespace {

constexpr size_t kClaimBatch = 128;
// Runs claimed beyond the execution slots. Few: a ready run waits for any
// slot here while another engine on the store might be idle.
constexpr size_t kClaimAhead = 1;

}  // namespace

// Slots counted as taken while a claim is being written. If the claim never
// commits (the store failed, or the tail's savepoint rolled back), the slots
// are given back and the scheduler is woken to try again.
class EngineCore::SlotReservation {
 public:
  // `hint_if_unused`: wake the scheduler when the claim did not commit (the
  // writer's claims: nobody else was told of the free slot). The scheduler's
  // own claims leave that to the poller, so a failing store is not hammered.
  SlotReservation(EngineCore& core, size_t slots, bool hint_if_unused)
      : core_(core), slots_(slots), hint_if_unused_(hint_if_unused) {}
  ~SlotReservation() {
    if (settled_) return;
    {
      std::lock_guard lock(core_.sched_mutex_);
      core_.claiming_ -= slots_;
      if (hint_if_unused_) core_.work_hint_ = true;
    }
    if (hint_if_unused_) core_.sched_wake_.notify_one();
  }
  SlotReservation(const SlotReservation&) = delete;
  SlotReservation& operator=(const SlotReservation&) = delete;
  size_t slots() const { return slots_; }
  void settle() { settled_ = true; }

 private:
  EngineCore& core_;
  size_t slots_;
  bool hint_if_unused_;
  bool settled_ = false;
};

void EngineCore::wake_scheduler() {
  {
    std::lock_guard lock(sched_mutex_);
    work_hint_ = true;
  }
  sched_wake_.notify_one();
}

size_t EngineCore::claim_capacity() const {
  return static_cast<size_t>(options_.max_executions) + kClaimAhead;
}

std::shared_ptr<ExecutionState> EngineCore::next_ready_locked() {
  if (ready_.empty() || executing_locked() >= static_cast<size_t>(options_.max_executions)) {
    return nullptr;
  }
  auto next = std::move(ready_.front());
  ready_.pop_front();
  return next;
}

void EngineCore::start_ready(std::shared_ptr<ExecutionState> state) {
  bool closing;
  {
    std::lock_guard lock(sched_mutex_);
    closing = stopping_;
  }
  if (closing) {
    state->release_unstarted();
  } else {
    dispatch(std::move(state));
  }
}

void EngineCore::release_ready() {
  std::deque<std::shared_ptr<ExecutionState>> unstarted;
  {
    std::lock_guard lock(sched_mutex_);
    unstarted.swap(ready_);
  }
  for (auto& state : unstarted) state->release_unstarted();
}

void EngineCore::execution_finished(const std::string& run_id) {
  std::shared_ptr<ExecutionState> next;
  {
    std::lock_guard lock(sched_mutex_);
    inflight_.erase(run_id);
    next = next_ready_locked();
    // A freed slot may let a run held back by a limit start.
    if (backlog_ || limited_ || next) work_hint_ = true;
  }
  if (next) start_ready(std::move(next));
  sched_wake_.notify_one();
  drained_.notify_all();
}

std::shared_ptr<ExecutionState> EngineCore::leave_slot_to_writer(const std::string& run_id) {
  std::lock_guard lock(sched_mutex_);
  inflight_.erase(run_id);
  return next_ready_locked();
}

void EngineCore::slot_left() { drained_.notify_all(); }

EngineCore::Claimed EngineCore::claim_into(Batch& b, size_t want) {
  store::ClaimRequest request = claim_request(want);
  Claimed out;
  if (request.workflows_json_array == "[]") return out;
  request.now_ms = b.now_ms;
  last_claim_ms_ = b.now_ms;
  auto result = b.tx.claim_runs(request);
  out.limited = result.limited;
  out.throttle_wake_ms = result.throttle_wake_ms;
  for (auto& run : result.runs) {
    run.lease_owner = engine_id_;
    b.event(run.info.id, "run.started", boost::json::object{{"engine", engine_id_}});
    auto steps = b.tx.steps(run.info.id);
    // For lifecycle reports: a run never executed is still available from its
    // creation (a requeue, release or wake-up moves available_at) and has no
    // step stored.
    run.first_start = steps.empty() && run.available_at_ms == run.info.created_at_ms;
    out.runs.emplace_back(std::move(run), std::move(steps));
  }
  return out;
}

void EngineCore::admit(Claimed claimed, SlotReservation& reservation) {
  std::vector<std::shared_ptr<ExecutionState>> states;
  std::vector<std::shared_ptr<ExecutionState>> unstarted;  // claimed while closing
  bool hint;
  {
    std::lock_guard lock(sched_mutex_);
    claiming_ -= reservation.slots();
    reservation.settle();
    limited_ = claimed.limited;
    throttle_wake_ms_ = claimed.throttle_wake_ms;
    backlog_ = claimed.runs.size() == reservation.slots();
    if (backlog_) work_hint_ = true;
    const auto slots = static_cast<size_t>(options_.max_executions);
    for (auto& [run, steps] : claimed.runs) {
      std::optional<RetryPolicy> retry = retry_policy(run.info.workflow);
      auto state = std::make_shared<ExecutionState>(shared_from_this(), std::move(run),
                                                    std::move(steps), retry);
      bool slot_free = executing_locked() < slots;
      inflight_[state->run_id()] = state;
      if (slot_free) {
        states.push_back(std::move(state));
      } else if (stopping_) {
        unstarted.push_back(std::move(state));  // in inflight_ until released: close() waits
      } else {
        ready_.push_back(std::move(state));
      }
    }
    hint = work_hint_;
  }
  if (hint) sched_wake_.notify_one();
  for (auto& state : unstarted) state->release_unstarted();
  for (auto& state : states) dispatch(std::move(state));
}

void EngineCore::refill_slots(Batch& b) {
  size_t want;
  {
    // Every tail tries: a request may come from an end applied in this batch
    // after an earlier tail (in an earlier batch) already looked.
    std::lock_guard lock(sched_mutex_);
    size_t max = claim_capacity();
    size_t busy = inflight_.size() + claiming_;
    if (stopping_ || !launched_.load() || busy >= max) return;
    want = std::min(max - busy, kClaimBatch);
    claiming_ += want;
  }
  auto reservation = std::make_shared<SlotReservation>(*this, want, true);
  Claimed claimed = claim_into(b, want);  // throws: the reservation gives the slots back
  b.after_commit([this, reservation, claimed = std::move(claimed)]() mutable {
    admit(std::move(claimed), *reservation);
  });
}

void EngineCore::scheduler_loop() {
  mark_engine_thread();
  std::unique_lock lock(sched_mutex_);
  auto busy = [this] { return inflight_.size() + claiming_; };
  for (;;) {
    sched_wake_.wait(lock, [&] {
      return stopping_ || (work_hint_ && launched_.load() && busy() < claim_capacity());
    });
    if (stopping_) return;
    work_hint_ = false;
    size_t want = std::min(claim_capacity() - busy(), kClaimBatch);
    claiming_ += want;
    lock.unlock();
    auto reservation = std::make_shared<SlotReservation>(*this, want, false);
    Claimed claimed;
    bool any_workflow;
    {
      std::lock_guard registry(registry_mutex_);
      any_workflow = !workflows_.empty();
    }
    // With no workflow registered there is nothing to claim and nothing to write.
    if (any_workflow) {
      try {
        writer_->run([&](Batch& b) { claimed = claim_into(b, want); }, Writer::Isolation::none);
        admit(std::move(claimed), *reservation);
      } catch (const std::exception&) {
        // The store is failing or closing: the reservation gives the slots
        // back; the poller hints again.
      }
    }
    reservation.reset();
    lock.lock();
  }
}

store::ClaimRequest EngineCore::claim_request(size_t want) {
  store::ClaimRequest request;
  request.owner = engine_id_;
  request.limit = want;
  auto options = std::make_shared<std::map<std::string, WorkflowOptions, std::less<>>>();
  {
    std::lock_guard lock(registry_mutex_);
    boost::json::array names;
    for (const auto& [name, wf] : workflows_) {
      names.push_back(boost::json::string(name));
      if (!has_limits(wf.options)) continue;
      request.rules[name] = claim_rules(wf.options);
      (*options)[name] = wf.options;
    }
    request.workflows_json_array = boost::json::serialize(names);
  }
  request.keys = [options](const store::RunRecord& run) {
    auto it = options->find(run.info.workflow);
    return it == options->end() ? store::RunKeys{} : run_keys(it->second, run.info.input);
  };
  return request;
}

}  // namespace storyloom::detail
