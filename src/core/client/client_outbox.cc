// The outbox and the user's own frames: send (validated, stored, then
// written), retry, the server's confirm and error answers about a message,
// cancel, component actions, typing and the tools declaration (the theory of
// operation is at the top of client_engine.cc).
#include <algorithm>

#include "core/client/client_engine.h"
#include "core/client/client_internal.h"
#include "core/media/base64.h"
#include "core/media/image.h"
#include "core/protocol/engine_json.h"

namespace chatwire::client {

using store::StoredMessage;
using namespace internal;  // NOLINT: this component's own internals

namespace {

constexpr int64_t kDefaultRetryAfterMs = 1000;
// What a server may ask for, whatever it sends: retryAfterMs is added to
// `now`, and a hostile value would overflow (found by
// tests/fuzz/fuzz_client_engine). An hour of holding a message is already far
// past any sane server.
constexpr int64_t kMaxRetryAfterMs = 3600LL * 1000;

// Replaces a leading "image " of a media error with the image's label, so a
// sniff failure reads like check_image's messages ("image 2 (<id>) ...").
std::string label_image_error(const std::string& message, size_t index, const std::string& id) {
  std::string label = "image " + std::to_string(index) + (id.empty() ? "" : " (" + id + ")");
  if (message.rfind("image ", 0) == 0) return label + message.substr(5);
  return label + ": " + message;
}

}  // namespace

// ------------------------------------------------------------------ sending

Result<std::string> ClientEngine::send(int64_t now, std::string_view draft_json,
                                       std::vector<std::string> image_bytes) {
  Batch batch(*this);
  const Limits& limits = config_.limits;
  auto draft = protocol::read_draft(draft_json, image_bytes.size());
  if (!draft) return draft.error();
  // A caller-chosen messageId makes send idempotent across hosts: a browser tab
  // that handed a draft to the leader tab sends it again, with the same id, to
  // whichever tab leads next; a message already stored under that id is
  // answered with its id and nothing is stored twice.
  const std::string given_id = draft->message_id;
  if (!given_id.empty()) {
    if (find(given_id)) return given_id;
    auto stored = store_.find_message(given_id);
    if (!stored) return stored.error();
    if (*stored) return given_id;
  }
  if (draft->error) return *draft->error;
  std::string content = std::move(draft->content);
  if (content.size() > limits.max_content_bytes) {
    return Error(ErrorCode::too_large, "content is " + std::to_string(content.size()) + " bytes, over the " +
                                           std::to_string(limits.max_content_bytes) + "-byte limit");
  }
  if (image_bytes.size() > limits.max_images) {
    return Error(ErrorCode::too_large, std::to_string(image_bytes.size()) + " images, over the limit of " +
                                           std::to_string(limits.max_images) + " per message");
  }
  if (content.empty() && image_bytes.empty()) {
    return invalid("a message needs a non-empty 'content' or 'images'");
  }

  StoredMessage m;
  std::set<std::string> ids;
  size_t frame_bytes = 256 + content.size() * 6;  // worst case JSON escaping
  for (size_t i = 0; i < image_bytes.size(); ++i) {
    const std::string where = "images[" + std::to_string(i) + "]";
    store::StoredImage img;
    std::optional<std::string> declared;
    if (draft->lists_images) {
      protocol::DraftImage& d = draft->images[i];
      if (d.error) return *d.error;
      if (d.id) img.id = *d.id;
      declared = d.mime_type;
      img.filename = d.filename;
    }
    if (img.id.empty()) img.id = uuid_v4(entropy_);
    if (!ids.insert(img.id).second) return invalid("field '" + where + ".id' repeats '" + img.id + "'");
    const auto* data = reinterpret_cast<const uint8_t*>(image_bytes[i].data());
    const size_t n = image_bytes[i].size();
    std::string mime;
    if (declared) {
      mime = *declared;
    } else if (n <= limits.max_image_bytes) {
      auto sniffed = media::sniff_image(data, n);
      if (!sniffed) {
        Error e(sniffed.error().code, label_image_error(sniffed.error().message, i + 1, img.id));
        e.image_id = img.id;
        return e;
      }
      mime = sniffed->mime_type;
    }
    auto info = media::check_image(data, n, mime, limits, i + 1, img.id);
    if (!info) return info.error();
    img.mime_type = info->mime_type;
    img.width = info->width;
    img.height = info->height;
    frame_bytes += media::base64_encoded_size(n) + 128 + img.id.size() + img.filename.value_or("").size() * 6;
    m.images.push_back(std::move(img));
  }
  if (frame_bytes > limits.max_frame_bytes) {
    return Error(ErrorCode::too_large, "the message would be about " + std::to_string(frame_bytes) +
                                           " bytes on the wire, over the " +
                                           std::to_string(limits.max_frame_bytes) + "-byte frame limit");
  }

  m.id = given_id.empty() ? uuid_v4(entropy_) : given_id;
  m.role = kUser;
  m.conversation_id = conversation_id_;
  set_state(m, UserState::queued);
  m.created_at = timestamp(now);
  m.content = std::move(content);
  m.ord = next_ord_;
  // Stored before it can be written: message, bytes and outbox entry in this
  // input's batch, which commits before the host polls the transmit.
  Result<bool> w = store_.put_message(m);
  if (w) w = store_.put_image_bytes(m.id, image_bytes);
  if (w) w = store_.outbox_push(m.id);
  if (!w) {
    check(w);
    return w.error();
  }
  ++next_ord_;
  const std::string id = m.id;
  messages_.push_back(std::move(m));
  outbox_.push_back(store::OutboxEntry{id, 0});
  StoredMessage& stored = messages_.back();
  flush_outbox(now);
  if (is(stored, UserState::queued)) emit_message(stored);
  return id;
}

void ClientEngine::flush_outbox(int64_t now) {
  if (!live()) return;
  // Copy: failing an entry below edits outbox_.
  const std::vector<store::OutboxEntry> entries = outbox_;
  for (const auto& entry : entries) {
    if (written_.count(entry.message_id)) continue;
    if (entry.not_before > now) break;  // held (rate_limited): later entries wait behind it
    StoredMessage* m = find(entry.message_id);
    if (!m) {
      remove_from_outbox(entry.message_id, true);
      continue;
    }
    protocol::Message frame;
    frame.message_id = m->id;
    frame.client_id = client_id_;
    frame.timestamp = m->created_at;
    if (!m->content.empty()) frame.content = m->content;
    if (!m->images.empty()) {
      auto bytes = store_.image_bytes(m->id);
      if (!check(bytes)) return;
      if (bytes->size() != m->images.size()) {
        set_state(*m, UserState::failed);
        m->error_code = error_code_name(ErrorCode::internal);
        m->error_message = "the image data of this message is no longer stored";
        remove_from_outbox(m->id, true);
        save(*m);
        emit_message(*m);
        continue;
      }
      for (size_t i = 0; i < m->images.size(); ++i) {
        protocol::Image img;
        img.id = m->images[i].id;
        img.mime_type = m->images[i].mime_type;
        img.filename = m->images[i].filename;
        img.bytes = std::move((*bytes)[i]);
        img.width = m->images[i].width;
        img.height = m->images[i].height;
        frame.images.push_back(std::move(img));
      }
    }
    transmit(frame);
    written_.insert(m->id);
    if (is(*m, UserState::queued)) {
      set_state(*m, UserState::sent);
      save(*m);
      emit_message(*m);
    }
  }
}

// The outbox hold timer: only the first unwritten entry can be waiting.
std::optional<int64_t> ClientEngine::outbox_hold_deadline() const {
  if (!live()) return std::nullopt;
  for (const auto& e : outbox_) {
    if (written_.count(e.message_id)) continue;
    if (e.not_before > 0) return e.not_before;
    break;
  }
  return std::nullopt;
}

// Leaves the outbox for good (confirmed, answered or failed).
void ClientEngine::remove_from_outbox(const std::string& id, bool drop_bytes) {
  auto it = std::find_if(outbox_.begin(), outbox_.end(),
                         [&](const store::OutboxEntry& e) { return e.message_id == id; });
  if (it != outbox_.end()) {
    outbox_.erase(it);
    check(store_.outbox_remove(id));
  }
  written_.erase(id);
  if (drop_bytes) check(store_.drop_image_bytes(id));
}

Result<bool> ClientEngine::retry(int64_t now, std::string_view message_id) {
  Batch batch(*this);
  StoredMessage* m = find(message_id);
  if (!m || m->role != kUser) return Error(ErrorCode::not_found, "no message '" + std::string(message_id) + "'");
  if (!is(*m, UserState::failed)) {
    return invalid("message '" + m->id + "' is " + m->status + ", only a failed message can be retried");
  }
  if (!m->images.empty()) {
    auto bytes = store_.image_bytes(m->id);
    if (!bytes) return bytes.error();
    if (bytes->size() != m->images.size()) {
      return invalid("the images of message '" + m->id +
                     "' are no longer stored (the server confirmed it); send them again as a new message");
    }
  }
  set_state(*m, UserState::queued);
  m->error_code.reset();
  m->error_message.reset();
  Result<bool> w = store_.put_message(*m);
  if (w) w = store_.outbox_push(m->id);
  if (!w) {
    check(w);
    return w.error();
  }
  outbox_.push_back(store::OutboxEntry{m->id, 0});
  flush_outbox(now);
  if (is(*m, UserState::queued)) emit_message(*m);
  return true;
}

// ------------------------------------------------------------------ the server's answers about a message

void ClientEngine::on_confirm_frame(int64_t now, const protocol::Confirm& c, bool replay) {
  StoredMessage* m = find(c.message_id);
  if (!m || m->role != kUser) return;
  const std::string before = store::message_to_json(*m);
  const std::string before_record = fingerprint(*m);
  advance(*m, UserState::received);
  if (!c.image_id && m->seq == 0) m->seq = c.seq;
  if (!conversation_id_.empty()) m->conversation_id = conversation_id_;
  if (c.image_id && c.status) {
    const ImageState to = image_state(*c.status);
    for (auto& img : m->images) {
      if (img.id == *c.image_id && to > image_state(img.status)) img.status = state_name(to);
    }
  }
  // The server has the message: it leaves the outbox and its bytes go.
  remove_from_outbox(m->id, true);
  save_if_changed(*m, before, before_record);
}

void ClientEngine::on_error_frame(int64_t now, const protocol::ErrorEvent& e) {
  emit_error(e.error);
  const std::string& id = e.error.message_id;
  if (id.empty()) return;  // fails nothing
  if (e.error.code == ErrorCode::rate_limited || e.error.code == ErrorCode::unavailable) {
    bool held = false;
    for (auto& entry : outbox_) {
      if (entry.message_id != id) continue;
      const int64_t wait =
          e.error.retry_after_ms >= 0 ? std::min(e.error.retry_after_ms, kMaxRetryAfterMs) : kDefaultRetryAfterMs;
      entry.not_before = now + wait;
      check(store_.outbox_hold(id, entry.not_before));
      written_.erase(id);
      held = true;
    }
    // `unavailable` about a message that already left the outbox (confirmed,
    // then its reply could not be stored) cannot be resent by itself: it
    // fails, and retry() sends it again.
    if (held || e.error.code == ErrorCode::rate_limited) return;
  }
  StoredMessage* m = find(id);
  if (!m) return;
  auto fail = [&](StoredMessage& x) {
    x.status = x.role == kUser ? state_name(UserState::failed) : state_name(ReplyState::failed);
    x.error_code = error_code_name(e.error.code);
    x.error_message = e.error.message;
    save(x);
    emit_message(x);
  };
  if (m->role == kUser) {
    if (is(*m, UserState::processed) || is(*m, UserState::failed)) return;
    remove_from_outbox(m->id, false);  // bytes kept for retry()
    fail(*m);
    if (StoredMessage* reply = find_reply(id); reply && !reply_final(*reply)) fail(*reply);
  } else if (!reply_final(*m)) {
    fail(*m);
  }
}

// ------------------------------------------------------------------ other frames the user sends

Result<bool> ClientEngine::cancel(int64_t now, std::string_view message_id) {
  Batch batch(*this);
  StoredMessage* m = find(message_id);
  if (!m || m->role != kUser) return Error(ErrorCode::not_found, "no message '" + std::string(message_id) + "'");
  if (is(*m, UserState::processed) || is(*m, UserState::failed)) return false;
  if (const StoredMessage* reply = find_reply(message_id); reply && reply_final(*reply)) return false;
  if (!live()) return false;
  transmit(protocol::Cancel{std::string(message_id), timestamp(now)});
  return true;
}

Result<bool> ClientEngine::submit_component(int64_t now, std::string_view component_id, std::string_view action,
                                            std::string_view values_json) {
  Batch batch(*this);
  const bool known = std::any_of(messages_.begin(), messages_.end(), [&](const StoredMessage& m) {
    return std::any_of(m.components.begin(), m.components.end(),
                       [&](const store::StoredComponent& c) { return c.component_id == component_id; });
  });
  if (!known) return Error(ErrorCode::not_found, "no component '" + std::string(component_id) + "'");
  auto frame = protocol::component_action_text(component_id, action, values_json, timestamp(now), config_.limits);
  if (!frame) return frame.error();
  if (!live()) return false;
  transmit(std::move(*frame));
  return true;
}

void ClientEngine::set_typing(int64_t now, bool typing) {
  Batch batch(*this);
  if (typing) {
    if (!live()) return;
    if (!typing_sent_) {
      transmit(protocol::Typing{client_id_, true, timestamp(now)});
      typing_sent_ = true;
    }
    arm(Timer::typing_idle, now + config_.typing_idle_ms);
  } else {
    if (typing_sent_ && live()) transmit(protocol::Typing{client_id_, false, timestamp(now)});
    typing_sent_ = false;
    disarm(Timer::typing_idle);
  }
}

void ClientEngine::on_typing_idle(int64_t now) {
  disarm(Timer::typing_idle);
  if (typing_sent_ && live()) transmit(protocol::Typing{client_id_, false, timestamp(now)});
  typing_sent_ = false;
}

void ClientEngine::configure_tools(int64_t now, std::string_view tools_json) {
  Batch batch(*this);
  auto frame = protocol::configure_tools_text(tools_json, config_.limits);
  if (!frame) {
    emit_error(frame.error());
    return;
  }
  tools_frame_ = std::move(*frame);
  if (live()) transmit(*tools_frame_);
}

void ClientEngine::send_load_messages(std::optional<int64_t> before_seq) {
  protocol::LoadMessages l;
  l.conversation_id = conversation_id_;
  l.before_seq = before_seq;
  l.limit = config_.history_page;
  transmit(l);
}

}  // namespace chatwire::client
