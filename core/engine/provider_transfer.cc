#include "engine/provider_transfer.h"

#include "storyloom/error.h"

namespace storyloom::detail {

void TransferCall::cancel() {
  std::shared_ptr<HttpTransfer> transfer;
  {
    std::lock_guard lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    transfer = transfer_;
  }
  if (transfer) transfer->cancel();
}

void TransferCall::start(HttpClient& http, HttpRequest request, HttpCallbacks callbacks) {
  auto transfer = http.start(std::move(request), std::move(callbacks));
  bool stop_now = false;
  {
    std::lock_guard lock(mutex_);
    transfer_ = transfer;
    stop_now = cancelled_;
  }
  if (stop_now) transfer->cancel();  // cancelled before the transfer was known
}

bool TransferCall::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

HttpCallbacks collect_response(std::shared_ptr<CollectedResponse> response, size_t max_body,
                               std::function<void()> alive) {
  HttpCallbacks cb;
  cb.on_head = [response](const HttpResponseHead& head) { response->head = head; };
  cb.on_body = [response, max_body, alive = std::move(alive)](std::string_view bytes) {
    if (response->body.size() + bytes.size() > max_body) {
      response->too_large = true;
      throw Error(ErrorCode::payload_too_large, "over the size limit");  // ends the transfer
    }
    response->body.append(bytes);
    alive();
  };
  return cb;
}

}  // namespace storyloom::detail
