// Theory of operation
// ===================
//
// The client engine is a sans-I/O state machine (quinn-proto style): inputs
// are commands (connect, send, ...) and transport reports (handle_open,
// handle_frame, handle_close, handle_ticket, handle_timeout), each with the
// current time; outputs are polled: actions for the host (open / close /
// transmit / fetch_ticket / run_tool), the next timer deadline, and UI events
// as JSON text. Every input runs as ONE store batch (one SQLite transaction),
// so a crash never leaves half of what an input did.
//
// Connection
// ----------
// Status is what the UI sees (DESIGN.md); Phase is where the current try is:
//
//   Phase        meaning                                   status
//   none         no socket, nothing scheduled              idle | open* | failed | closed
//   ticket       fetch_ticket emitted, waiting             connecting | reconnecting
//   opening      open emitted, waiting for handle_open     connecting | reconnecting
//   handshake    `connect` written, waiting for confirm    connecting | reconnecting
//   confirmed    connect_confirm received                  open
//   waiting_retry  next attempt at nextRetryAt             reconnecting
//   (* only transiently inside one input)
//
// Status transitions are data (kTransitions below); an input that has no row
// for the current status is ignored:
//
//   from \ input   connect     new_cycle   confirmed  attempt_failed  exhausted  lost          retry_due     disconnect
//   idle           connecting  connecting  .          .               .          .             .             closed
//   connecting     .           .           open       reconnecting    failed     .             .             closed
//   open           .           .           .          .               failed     reconnecting  .             closed
//   reconnecting   .           connecting  open       reconnecting    failed     .             reconnecting  closed
//   failed         connecting  connecting  .          .               .          .             .             closed
//   closed         connecting  connecting  .          .               .          .             .             closed
//
//   new_cycle: reconnect(), visible while failed, online while failed or
//   waiting to retry. A cycle starts with an immediate try that is not an
//   attempt (like connect()); when a try fails, attempt k = 1, 2, ... follows
//   after delay(k) = max(min_delay, delays[min(k-1, n-1)] * (1 + jitter * u));
//   when attempt max_attempts fails the status is failed. A connection that
//   was open and is lost (a close, or nothing received for 3 x heartbeat)
//   starts an outage: attempt 1 after delay(1). Reaching open resets the count.
//   A try fails on handle_close before confirm (a refused handshake included),
//   a failed ticket, a frame the codec refuses before the confirm (close 1002
//   at once: refuse_handshake), or no confirm within 3 x heartbeat_ms of its
//   start.
//   After the engine emits `close` it ignores that socket: the host must not
//   report events of a socket it was asked to close.
//
// While open: a ping every min(config heartbeatMs, the server's value from
// connect_confirm), and the connection is lost when nothing at all was
// received for 3 x that interval.
//
// Messages and the outbox
// -----------------------
// send() validates, then stores the message (queued) and appends it to the
// outbox in one batch; it is written only after that batch commits. The
// outbox is flushed in order after every connect_confirm and whenever
// something is added while open: each entry is written once per socket
// (queued -> sent). A rate_limited or unavailable error holds its entry until retryAfterMs;
// entries behind a held one wait too, so the server sees the original order.
// confirm removes the entry and drops the image bytes. User states only move
// forward: queued < sent < received < processed; failed (an error naming the
// message) is terminal until retry(), which re-queues the same messageId.
//
// Seq bookkeeping: every seq'd server event advances lastSeq of the current
// conversation, persisted in the same batch. An event with seq <= lastSeq is a
// replay and is skipped, except confirm (applied only if it moves a message
// forward) and tool_call (answered from the stored result, never run again).
// Every handler is also idempotent on its own (a response for a finished
// reply, a known toolCallId or componentId, a delta index already applied).
//
// Replies: the assistant message of a turn is keyed by replyTo and appears
// with the first event of the turn. Its id is the server reply id once known
// (delta / response carry it); before that (thinking, tool_call, component
// first) it has the provisional id "reply:<replyTo>", and the message event
// that switches to the server id carries "replacesId". Deltas are assembled
// by index in memory (early ones held, duplicates dropped, gaps wait); a delta
// event carries the piece, never the text so far (that made a long reply
// O(n^2)); the response replaces the text. Deltas are not persisted on their own (the
// response always carries the whole text and deltas are never replayed).
//
// Order: messages have an integer local order (ord). Live messages are
// appended; messages learned from `history` are placed by seq among their
// conversation (store::make_room_for_seq). Memory holds a suffix of the
// store's order (the newest page, plus what load_older added); messages
// inserted anywhere but the end are followed by a `history` event, after which
// a UI store should re-read messages_json().
#include "core/client/client_engine.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/client/client_config.h"
#include "core/media/base64.h"
#include "core/media/image.h"
#include "core/protocol/codec.h"
#include "core/protocol/time.h"

namespace chatwire::client {

using store::StoredMessage;
using Status = ClientEngine::Status;

enum class ClientEngine::Input { connect, new_cycle, confirmed, attempt_failed, exhausted, lost, retry_due, disconnect };

namespace {

using Input = ClientEngine::Input;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct Transition {
  Status from;
  Input input;
  Status to;
};

// The status table (see the top of this file).
constexpr Transition kTransitions[] = {
    {Status::idle, Input::connect, Status::connecting},
    {Status::failed, Input::connect, Status::connecting},
    {Status::closed, Input::connect, Status::connecting},
    {Status::idle, Input::new_cycle, Status::connecting},
    {Status::reconnecting, Input::new_cycle, Status::connecting},
    {Status::failed, Input::new_cycle, Status::connecting},
    {Status::closed, Input::new_cycle, Status::connecting},
    {Status::connecting, Input::confirmed, Status::open},
    {Status::reconnecting, Input::confirmed, Status::open},
    {Status::connecting, Input::attempt_failed, Status::reconnecting},
    {Status::reconnecting, Input::attempt_failed, Status::reconnecting},
    {Status::connecting, Input::exhausted, Status::failed},
    {Status::reconnecting, Input::exhausted, Status::failed},
    {Status::open, Input::exhausted, Status::failed},
    {Status::open, Input::lost, Status::reconnecting},
    {Status::reconnecting, Input::retry_due, Status::reconnecting},
    {Status::idle, Input::disconnect, Status::closed},
    {Status::connecting, Input::disconnect, Status::closed},
    {Status::open, Input::disconnect, Status::closed},
    {Status::reconnecting, Input::disconnect, Status::closed},
    {Status::failed, Input::disconnect, Status::closed},
    {Status::closed, Input::disconnect, Status::closed},
};

std::optional<Status> next_status(Status from, Input input) {
  for (const auto& t : kTransitions) {
    if (t.from == from && t.input == input) return t.to;
  }
  return std::nullopt;
}

constexpr const char* kProvisionalPrefix = "reply:";
constexpr int64_t kDefaultRetryAfterMs = 1000;
// What a server may ask for, whatever it sends: heartbeatMs and retryAfterMs
// are added to `now`, and a hostile value (2^63 - 1) would overflow (UB; found
// by tests/fuzz/fuzz_client_engine). A day between pings and an hour of
// holding a message are already far past any sane server.
constexpr int64_t kMinServerHeartbeatMs = 100;
constexpr int64_t kMaxServerHeartbeatMs = 24LL * 3600 * 1000;
constexpr int64_t kMaxRetryAfterMs = 3600LL * 1000;
constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxFilenameBytes = 1024;

// Forward order of user message states; failed is off the line (-1).
int user_rank(const std::string& s) {
  if (s == "queued") return 0;
  if (s == "sent") return 1;
  if (s == "received") return 2;
  if (s == "processed") return 3;
  return -1;
}

int image_rank(const std::string& s) {
  if (s == "received") return 1;
  if (s == "processing") return 2;
  if (s == "analyzed") return 3;
  return 0;
}

bool reply_final(const StoredMessage& m) { return m.status != "streaming"; }

// A reply that failed together with its message (an error naming the
// message) starts over once the message was retried: the server processes
// the retry again, and its thinking / deltas / response must not be dropped
// as events of a finished reply (found by tests/chaos: a retried message
// stayed `received` forever). The reply goes back to streaming under a
// provisional id (the next message event carries replacesId), so the new
// run's server reply id can take over. True when the reply was reopened.
bool reopen_for_retry(StoredMessage& reply, const StoredMessage* user,
                      std::map<std::string, std::string>& replaced_ids) {
  if (reply.status != "failed" || !user || user->role != "user" || user->status == "failed" ||
      user->status == "processed") {
    return false;
  }
  reply.status = "streaming";
  reply.content.clear();
  reply.thinking.clear();
  reply.error_code.reset();
  reply.error_message.reset();
  const std::string provisional = kProvisionalPrefix + reply.reply_to;
  if (reply.id != provisional) {
    replaced_ids[provisional] = reply.id;
    reply.id = provisional;
  }
  return true;
}

void mark_received(StoredMessage& m) {
  if (m.status != "failed" && user_rank(m.status) < user_rank("received")) m.status = "received";
}

// Everything put_message writes, to decide whether a write is needed.
std::string fingerprint(const StoredMessage& m) {
  return store::message_to_json(m) + '\x1f' + std::to_string(m.seq) + '\x1f' + m.conversation_id + '\x1f' +
         std::to_string(m.ord);
}

std::string url_encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void put(Writer& w, const char* key, std::string_view s) {
  w.Key(key);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void put_raw(Writer& w, const char* key, const std::string& json) {
  w.Key(key);
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

std::string text_of(rapidjson::StringBuffer& buf) { return std::string(buf.GetString(), buf.GetSize()); }

// The shared sub-objects are written by the codec (one writer for frames,
// events and the store).
std::string analysis_json(const protocol::ImageAnalysis& a) { return protocol::to_json_text(a); }

std::string analysis_list_json(const std::optional<std::vector<protocol::ImageAnalysis>>& list) {
  return list ? protocol::to_json_text(*list) : "[]";
}

std::string citations_json(const std::optional<std::vector<protocol::Citation>>& list) {
  return list ? protocol::to_json_text(*list) : "[]";
}

// Replaces a leading "image " of a media error with the image's label, so a
// sniff failure reads like check_image's messages ("image 2 (<id>) ...").
std::string label_image_error(const std::string& message, size_t index, const std::string& id) {
  std::string label = "image " + std::to_string(index) + (id.empty() ? "" : " (" + id + ")");
  if (message.rfind("image ", 0) == 0) return label + message.substr(5);
  return label + ": " + message;
}

ClientEngine::Action make_action(ClientEngine::Action::Kind kind) {
  ClientEngine::Action a{};
  a.kind = kind;
  return a;
}

// An invalid_field Error (config and draft checks).
Error invalid(const std::string& message) { return Error(ErrorCode::invalid_field, message); }

}  // namespace

const char* status_name(Status status) {
  switch (status) {
    case Status::idle: return "idle";
    case Status::connecting: return "connecting";
    case Status::open: return "open";
    case Status::reconnecting: return "reconnecting";
    case Status::failed: return "failed";
    case Status::closed: return "closed";
  }
  return "idle";
}

// One store batch per input: BEGIN at entry, COMMIT (or ROLLBACK after a
// store error) at exit. Nested inputs join the outer batch.
class ClientEngine::Batch {
 public:
  explicit Batch(ClientEngine& e) : e_(e) { e_.begin_batch(); }
  ~Batch() { e_.end_batch(); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

 private:
  ClientEngine& e_;
};

// ------------------------------------------------------------------ config

Result<ClientConfig> client_config_from_json(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return Error(ErrorCode::bad_json, "client options must be a JSON object");
  ClientConfig c;
  std::optional<Error> err;
  auto fail = [&](const std::string& m) {
    if (!err) err = invalid(m);
  };
  auto integer = [&](const rapidjson::Value& obj, const char* key, const std::string& name, auto* out) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || it->value.IsNull()) return;
    if (!it->value.IsInt64() || it->value.GetInt64() < 0) return fail("option '" + name + "' must be an integer >= 0");
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(it->value.GetInt64());
  };
  if (auto it = doc.FindMember("url"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) {
      fail("option 'url' must be a string");
    } else {
      c.url.assign(it->value.GetString(), it->value.GetStringLength());
    }
  }
  integer(doc, "heartbeatMs", "heartbeatMs", &c.heartbeat_ms);
  integer(doc, "toolTimeoutMs", "toolTimeoutMs", &c.tool_timeout_ms);
  integer(doc, "typingIdleMs", "typingIdleMs", &c.typing_idle_ms);
  integer(doc, "historyPage", "historyPage", &c.history_page);
  if (auto it = doc.FindMember("transports"); it != doc.MemberEnd() && !it->value.IsNull()) {
    const rapidjson::Value& t = it->value;
    bool ok = t.IsArray() && !t.Empty();
    std::vector<std::string> list;
    if (ok) {
      for (const auto& v : t.GetArray()) {
        std::string name = v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
        if ((name != "websocket" && name != "http") ||
            std::find(list.begin(), list.end(), name) != list.end()) {
          ok = false;
          break;
        }
        list.push_back(std::move(name));
      }
    }
    if (!ok) {
      fail("option 'transports' must be a non-empty list of 'websocket' and/or 'http', each at most once");
    } else {
      c.transports = std::move(list);
    }
  }
  if (auto it = doc.FindMember("useTickets"); it != doc.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsBool()) {
      fail("option 'useTickets' must be true or false");
    } else {
      c.use_tickets = it->value.GetBool();
    }
  }
  if (auto it = doc.FindMember("reconnect"); it != doc.MemberEnd() && !it->value.IsNull()) {
    const rapidjson::Value& r = it->value;
    if (!r.IsObject()) {
      fail("option 'reconnect' must be an object");
    } else {
      integer(r, "maxAttempts", "reconnect.maxAttempts", &c.reconnect.max_attempts);
      integer(r, "minDelayMs", "reconnect.minDelayMs", &c.reconnect.min_delay_ms);
      if (auto d = r.FindMember("delaysMs"); d != r.MemberEnd() && !d->value.IsNull()) {
        if (!d->value.IsArray()) {
          fail("option 'reconnect.delaysMs' must be an array of integers >= 0");
        } else {
          c.reconnect.delays_ms.clear();
          for (const auto& v : d->value.GetArray()) {
            if (!v.IsInt64() || v.GetInt64() < 0) {
              fail("option 'reconnect.delaysMs' must be an array of integers >= 0");
              break;
            }
            c.reconnect.delays_ms.push_back(v.GetInt64());
          }
        }
      }
      if (auto j = r.FindMember("jitter"); j != r.MemberEnd() && !j->value.IsNull()) {
        if (!j->value.IsNumber()) {
          fail("option 'reconnect.jitter' must be a number from 0 to 1");
        } else {
          c.reconnect.jitter = j->value.GetDouble();
        }
      }
    }
  }
  if (auto it = doc.FindMember("limits"); it != doc.MemberEnd() && !it->value.IsNull()) {
    const rapidjson::Value& l = it->value;
    if (!l.IsObject()) {
      fail("option 'limits' must be an object");
    } else {
      integer(l, "maxFrameBytes", "limits.maxFrameBytes", &c.limits.max_frame_bytes);
      integer(l, "maxContentBytes", "limits.maxContentBytes", &c.limits.max_content_bytes);
      integer(l, "maxImages", "limits.maxImages", &c.limits.max_images);
      integer(l, "maxImageBytes", "limits.maxImageBytes", &c.limits.max_image_bytes);
      integer(l, "maxImageDimension", "limits.maxImageDimension", &c.limits.max_image_dimension);
    }
  }
  if (err) return *err;
  return c;
}

// ------------------------------------------------------------------ construction

ClientEngine::ClientEngine(ClientConfig config, store::ClientStore& store, Entropy& entropy)
    : config_(std::move(config)), store_(store), entropy_(entropy), heartbeat_ms_(config_.heartbeat_ms) {}

ClientEngine::~ClientEngine() = default;

Result<std::unique_ptr<ClientEngine>> ClientEngine::create(ClientConfig config, store::ClientStore& store,
                                                           Entropy& entropy, int64_t now) {
  if (auto e = check_client_config(config)) return *e;
  if (store.in_transaction()) return Error(ErrorCode::internal, "the store has an open batch");
  std::unique_ptr<ClientEngine> engine(new ClientEngine(std::move(config), store, entropy));
  auto r = engine->restore(now);
  if (!r) return r.error();
  return engine;
}

Result<bool> ClientEngine::restore(int64_t now) {
  auto begun = store_.begin();
  if (!begun) return begun.error();
  auto fail = [&](const Error& e) -> Result<bool> {
    store_.rollback();
    return e;
  };
  auto id = store_.meta("clientId");
  if (!id) return fail(id.error());
  if (*id && !id->value().empty()) {
    client_id_ = **id;
  } else {
    client_id_ = uuid_v4(entropy_);
    auto w = store_.set_meta("clientId", client_id_);
    if (!w) return fail(w.error());
  }
  auto conv = store_.meta("conversationId");
  if (!conv) return fail(conv.error());
  conversation_id_ = conv->value_or("");
  if (!conversation_id_.empty()) {
    auto seq = store_.last_seq(conversation_id_);
    if (!seq) return fail(seq.error());
    last_seq_ = *seq;
  }
  auto outbox = store_.outbox();
  if (!outbox) return fail(outbox.error());
  outbox_ = std::move(*outbox);
  auto page = store_.newest_messages(config_.history_page);
  if (!page) return fail(page.error());
  for (auto& m : *page) messages_.push_back(std::move(m));
  // Every message still in the outbox is kept in memory (they are the newest
  // in practice; an offline burst longer than a page extends the suffix).
  for (const auto& entry : outbox_) {
    auto m = store_.find_message(entry.message_id);
    if (!m) return fail(m.error());
    if (*m && (messages_.empty() || (*m)->ord < messages_.front().ord)) {
      auto more = store_.messages_from((*m)->ord);
      if (!more) return fail(more.error());
      messages_.clear();
      for (auto& x : *more) messages_.push_back(std::move(x));
    }
  }
  auto next = store_.next_order();
  if (!next) return fail(next.error());
  next_ord_ = *next;
  auto c = store_.commit();
  if (!c) return fail(c.error());
  return true;
}

// ------------------------------------------------------------------ batches

void ClientEngine::begin_batch() {
  if (batch_depth_++ > 0) return;
  auto r = store_.begin();
  if (!r) store_error_ = r.error();
}

void ClientEngine::end_batch() {
  if (--batch_depth_ > 0) return;
  if (store_error_) {
    store_.rollback();
    Error e(ErrorCode::internal, "storage failed, the last change was not saved: " + store_error_->message);
    store_error_.reset();
    emit_error(e);
    return;
  }
  auto r = store_.commit();
  if (!r) {
    store_.rollback();
    emit_error(Error(ErrorCode::internal, "storage failed, the last change was not saved: " + r.error().message));
  }
}

template <class T>
bool ClientEngine::check(const Result<T>& r) {
  if (r.ok()) return true;
  if (!store_error_) store_error_ = r.error();
  return false;
}

// ------------------------------------------------------------------ events

void ClientEngine::emit(std::string json) { events_.push_back(std::move(json)); }

std::string ClientEngine::connection_json() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "status", status_name(status_));
  w.Key("attempt");
  w.Int(attempt_);
  w.Key("nextRetryAt");
  if (next_retry_at_) {
    w.Int64(*next_retry_at_);
  } else {
    w.Null();
  }
  w.Key("transport");
  if (phase_ == Phase::opening || phase_ == Phase::handshake || phase_ == Phase::confirmed) {
    const std::string& t = config_.transports[transport_];
    w.String(t.data(), static_cast<rapidjson::SizeType>(t.size()));
  } else {
    w.Null();
  }
  w.Key("conversationId");
  if (conversation_id_.empty()) {
    w.Null();
  } else {
    w.String(conversation_id_.data(), static_cast<rapidjson::SizeType>(conversation_id_.size()));
  }
  w.EndObject();
  return text_of(buf);
}

void ClientEngine::emit_connection() {
  std::string c = connection_json();
  // {"status":...} -> {"type":"connection","status":...}
  emit("{\"type\":\"connection\"," + c.substr(1));
}

void ClientEngine::emit_system(const char* kind, const std::string& message) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "type", "system");
  put(w, "kind", kind);
  put(w, "message", message);
  w.EndObject();
  emit(text_of(buf));
}

void ClientEngine::emit_message(const StoredMessage& m) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "type", "message");
  put_raw(w, "message", store::message_to_json(m));
  auto it = replaced_ids_.find(m.id);
  if (it != replaced_ids_.end()) {
    put(w, "replacesId", it->second);
    replaced_ids_.erase(it);
  }
  w.EndObject();
  emit(text_of(buf));
}

void ClientEngine::emit_error(const Error& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "type", "error");
  w.Key("error");
  w.StartObject();
  put(w, "code", error_code_name(e.code));
  put(w, "message", e.message);
  if (!e.message_id.empty()) put(w, "messageId", e.message_id);
  if (!e.image_id.empty()) put(w, "imageId", e.image_id);
  if (e.retry_after_ms >= 0) {
    w.Key("retryAfterMs");
    w.Int64(e.retry_after_ms);
  }
  w.EndObject();
  w.EndObject();
  emit(text_of(buf));
}

std::optional<std::string> ClientEngine::poll_event() {
  if (events_.empty()) return std::nullopt;
  std::string e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::optional<ClientEngine::Action> ClientEngine::poll_action() {
  if (actions_.empty()) return std::nullopt;
  Action a = std::move(actions_.front());
  actions_.pop_front();
  return a;
}

std::string ClientEngine::messages_json() const {
  std::string out = "[";
  bool first = true;
  for (const auto& m : messages_) {
    if (!first) out.push_back(',');
    first = false;
    out += store::message_to_json(m);
  }
  out.push_back(']');
  return out;
}

// ------------------------------------------------------------------ connection

void ClientEngine::fire(Input input) {
  if (auto to = next_status(status_, input)) status_ = *to;
}

std::string ClientEngine::timestamp(int64_t now) const { return format_timestamp(now); }

void ClientEngine::transmit(std::string text) {
  Action a = make_action(Action::Kind::transmit);
  a.text = std::move(text);
  actions_.push_back(std::move(a));
}

void ClientEngine::transmit(const protocol::ClientFrame& frame) { transmit(protocol::encode(frame)); }

void ClientEngine::drop_socket() {
  phase_ = Phase::none;
  attempt_deadline_.reset();
  written_.clear();
  typing_sent_ = false;
  typing_idle_at_.reset();
}

void ClientEngine::connect(int64_t now) {
  Batch batch(*this);
  if (status_ != Status::idle && status_ != Status::closed && status_ != Status::failed) return;
  fire(Input::connect);
  attempt_ = 0;
  next_retry_at_.reset();
  emit_connection();
  start_try(now);
}

void ClientEngine::start_cycle(int64_t now) {
  attempt_ = 0;
  next_retry_at_.reset();
  fire(Input::new_cycle);
  emit_connection();
  start_try(now);
}

void ClientEngine::reconnect(int64_t now) {
  Batch batch(*this);
  switch (status_) {
    case Status::idle:
    case Status::failed:
    case Status::closed:
      start_cycle(now);
      return;
    case Status::reconnecting:
      if (phase_ == Phase::waiting_retry) {
        start_cycle(now);
      } else {
        // A try is already under way: let it finish, but count a new cycle.
        attempt_ = 0;
        fire(Input::new_cycle);
        emit_connection();
      }
      return;
    case Status::connecting:
    case Status::open:
      return;
  }
}

void ClientEngine::visibility_changed(int64_t now, bool visible) {
  Batch batch(*this);
  if (visible && status_ == Status::failed) start_cycle(now);
}

void ClientEngine::online(int64_t now) {
  Batch batch(*this);
  if (status_ == Status::failed || (status_ == Status::reconnecting && phase_ == Phase::waiting_retry)) {
    start_cycle(now);
  }
}

void ClientEngine::disconnect(int64_t now) {
  Batch batch(*this);
  if (status_ == Status::closed) return;
  if (phase_ == Phase::handshake || phase_ == Phase::confirmed) {
    transmit(protocol::Disconnect{client_id_, timestamp(now)});
  }
  if (phase_ == Phase::opening || phase_ == Phase::handshake || phase_ == Phase::confirmed) {
    Action a = make_action(Action::Kind::close);
    a.code = 1000;
    a.text = "disconnect";
    actions_.push_back(std::move(a));
  }
  drop_socket();
  attempt_ = 0;
  next_retry_at_.reset();
  outage_ = false;  // a later connect() is a fresh start, not a restore
  fire(Input::disconnect);
  emit_connection();
  emit_system("completed", "Disconnected");
}

void ClientEngine::start_try(int64_t now) {
  attempt_deadline_ = now + 3 * config_.heartbeat_ms;
  transport_ = 0;  // every try starts with the first transport (the WebSocket)
  if (config_.use_tickets) {
    phase_ = Phase::ticket;
    actions_.push_back(make_action(Action::Kind::fetch_ticket));
  } else {
    open_now(std::string());
  }
}

void ClientEngine::open_now(const std::string& ticket) {
  phase_ = Phase::opening;
  Action a = make_action(Action::Kind::open);
  a.url = config_.url;
  if (!ticket.empty()) {
    const char sep = config_.url.find('?') == std::string::npos ? '?' : '&';
    a.url += sep;
    a.url += "ticket=" + url_encode(ticket);
  }
  a.transport = config_.transports[transport_];
  actions_.push_back(std::move(a));
}

// The WebSocket of this try could not be opened: the next transport, now,
// in the same try (a ticket is single-use: a fresh one first). False when
// there is none left.
bool ClientEngine::fall_back(int64_t now) {
  if (transport_ + 1 >= config_.transports.size()) return false;
  ++transport_;
  drop_socket();
  attempt_deadline_ = now + 3 * config_.heartbeat_ms;
  emit_system("info", "The WebSocket could not be opened; trying " + config_.transports[transport_]);
  if (config_.use_tickets) {
    phase_ = Phase::ticket;
    actions_.push_back(make_action(Action::Kind::fetch_ticket));
  } else {
    open_now(std::string());
  }
  emit_connection();
  return true;
}

void ClientEngine::handle_ticket(int64_t now, std::optional<std::string> ticket) {
  Batch batch(*this);
  if (phase_ != Phase::ticket) return;  // late answer for an abandoned try
  if (!ticket) {
    emit_system("error", "Could not get a connection ticket");
    attempt_failed(now, "ticket provider failed");
    return;
  }
  open_now(*ticket);
}

void ClientEngine::handle_open(int64_t now) {
  Batch batch(*this);
  if (phase_ != Phase::opening) return;
  phase_ = Phase::handshake;
  last_rx_at_ = now;
  protocol::Connect c;
  c.client_id = client_id_;
  c.timestamp = timestamp(now);
  if (!conversation_id_.empty()) {
    c.conversation_id = conversation_id_;
    c.last_seq = last_seq_;
  }
  transmit(c);
}

void ClientEngine::handle_close(int64_t now, int code, int http_status) {
  Batch batch(*this);
  switch (phase_) {
    case Phase::none:
    case Phase::ticket:
    case Phase::waiting_retry:
      return;  // no socket of ours
    case Phase::opening:
      if (fall_back(now)) return;
      [[fallthrough]];
    case Phase::handshake: {
      std::string why = http_status != 0 ? "handshake refused with HTTP " + std::to_string(http_status)
                                         : "closed before confirm (code " + std::to_string(code) + ")";
      if (http_status != 0) emit_system("error", "Connection refused (HTTP " + std::to_string(http_status) + ")");
      attempt_failed(now, why);
      return;
    }
    case Phase::confirmed:
      on_lost(now, "closed with code " + std::to_string(code), false);
      return;
  }
}

// A frame the codec refuses while waiting for connect_confirm (issue 14.14:
// `heartbeatMs: 0`): this server cannot be followed, so the try fails now
// instead of at its deadline. The socket is closed with 1002 (protocol error)
// and the next attempt follows the normal backoff. A frame of an unknown type
// is not a refusal (a newer server may send one); it waits as before.
void ClientEngine::refuse_handshake(int64_t now, std::string_view text, const Error& e) {
  std::string type;
  rapidjson::Document doc;
  if (protocol::parse_json_frame(text, config_.limits, doc) && doc.IsObject()) {
    auto it = doc.FindMember("type");
    if (it != doc.MemberEnd() && it->value.IsString()) type.assign(it->value.GetString(), it->value.GetStringLength());
  }
  const std::string what = type == "connect_confirm" ? "the server's connect_confirm is invalid"
                           : type.empty()              ? "a frame from the server before connect_confirm is unreadable"
                                                       : "the server's " + type + " before connect_confirm is invalid";
  const std::string why = what + " (" + e.message + ")";
  emit_error(Error(e.code, why + "; the connection attempt failed"));
  emit_system("error", "Connection failed: " + why);
  Action a = make_action(Action::Kind::close);
  a.code = 1002;
  a.text = "protocol error";
  actions_.push_back(std::move(a));
  attempt_failed(now, why);
}

void ClientEngine::attempt_failed(int64_t now, const std::string& why) {
  drop_socket();
  if (attempt_ >= config_.reconnect.max_attempts) {
    next_retry_at_.reset();
    fire(Input::exhausted);
    emit_connection();
    emit_system("failed", attempt_ == 0 ? "Could not connect (" + why + ")"
                                        : "Could not reconnect after " + std::to_string(attempt_) +
                                              (attempt_ == 1 ? " attempt" : " attempts"));
    return;
  }
  ++attempt_;
  fire(Input::attempt_failed);
  schedule_retry(now);
}

void ClientEngine::on_lost(int64_t now, const std::string& why, bool close_socket) {
  if (close_socket) {
    Action a = make_action(Action::Kind::close);
    a.code = 4008;
    a.text = why;
    actions_.push_back(std::move(a));
  }
  drop_socket();
  outage_ = true;
  emit_system("lost", "Connection lost (" + why + ")");
  attempt_ = 0;
  if (config_.reconnect.max_attempts <= 0) {
    fire(Input::exhausted);
    emit_connection();
    emit_system("failed", "Reconnection is disabled");
    return;
  }
  attempt_ = 1;
  fire(Input::lost);
  schedule_retry(now);
}

void ClientEngine::schedule_retry(int64_t now) {
  const auto& p = config_.reconnect;
  int64_t delay = p.min_delay_ms;
  if (!p.delays_ms.empty()) {
    const size_t i = std::min(static_cast<size_t>(attempt_ - 1), p.delays_ms.size() - 1);
    delay = p.delays_ms[i];
  }
  if (p.jitter > 0) {
    const double u = random_unit(entropy_);
    // delay * (1 + jitter * u) for u in [0, 1): the extra stays strictly
    // under delay * jitter, even where doubles would round it up.
    const double spread = static_cast<double>(delay) * p.jitter;
    auto extra = static_cast<int64_t>(std::floor(spread * u));
    if (spread >= 1 && static_cast<double>(extra) >= spread) extra = static_cast<int64_t>(std::ceil(spread)) - 1;
    delay += extra;
  }
  delay = std::max(delay, p.min_delay_ms);
  next_retry_at_ = now + delay;
  phase_ = Phase::waiting_retry;
  emit_connection();
  emit_system("reconnecting", "Reconnecting in " + std::to_string((delay + 999) / 1000) + " s (attempt " +
                                  std::to_string(attempt_) + " of " + std::to_string(p.max_attempts) + ")");
}

void ClientEngine::on_confirm(int64_t now, const protocol::ConnectConfirm& c) {
  if (phase_ != Phase::handshake) return;  // a second confirm changes nothing
  phase_ = Phase::confirmed;
  attempt_deadline_.reset();
  // The faster of the two: the client's own heartbeatMs is a ceiling, not a
  // default the server may override with a longer one (issue 15).
  heartbeat_ms_ = c.heartbeat_ms > 0
                      ? std::min(config_.heartbeat_ms,
                                 std::clamp(c.heartbeat_ms, kMinServerHeartbeatMs, kMaxServerHeartbeatMs))
                      : config_.heartbeat_ms;
  last_rx_at_ = now;
  next_ping_at_ = now + heartbeat_ms_;
  if (c.conversation_id != conversation_id_) {
    // A new conversation (first connect, or resumed:false): old messages
    // stay; seq counting starts fresh for the new one.
    conversation_id_ = c.conversation_id;
    check(store_.set_meta("conversationId", conversation_id_));
    auto seq = store_.last_seq(conversation_id_);
    last_seq_ = check(seq) ? *seq : 0;
  }
  attempt_ = 0;
  next_retry_at_.reset();
  fire(Input::confirmed);
  emit_connection();
  emit_system(outage_ ? "restored" : "established", outage_ ? "Connection restored" : "Connected");
  outage_ = false;
  if (tools_frame_) transmit(*tools_frame_);
  written_.clear();
  flush_outbox(now);
  if (!c.recovered) send_load_messages(std::nullopt);
}

void ClientEngine::send_load_messages(std::optional<int64_t> before_seq) {
  protocol::LoadMessages l;
  l.conversation_id = conversation_id_;
  l.before_seq = before_seq;
  l.limit = config_.history_page;
  transmit(l);
}

void ClientEngine::handle_timeout(int64_t now) {
  Batch batch(*this);
  if (attempt_deadline_ && now >= *attempt_deadline_ &&
      (phase_ == Phase::ticket || phase_ == Phase::opening || phase_ == Phase::handshake)) {
    if (phase_ != Phase::ticket) {
      Action a = make_action(Action::Kind::close);
      a.code = 4008;
      a.text = "connect timeout";
      actions_.push_back(std::move(a));
    }
    attempt_failed(now, "timed out");
  }
  if (phase_ == Phase::waiting_retry && next_retry_at_ && now >= *next_retry_at_) {
    next_retry_at_.reset();
    fire(Input::retry_due);
    emit_connection();
    start_try(now);
  }
  if (phase_ == Phase::confirmed) {
    if (now >= last_rx_at_ + 3 * heartbeat_ms_) {
      on_lost(now, "nothing received for " + std::to_string(3 * heartbeat_ms_) + " ms", true);
    } else {
      if (now >= next_ping_at_) {
        transmit(protocol::Ping{client_id_, timestamp(now)});
        next_ping_at_ = now + heartbeat_ms_;
      }
      flush_outbox(now);
    }
  }
  std::vector<std::string> expired;
  for (const auto& [id, deadline] : pending_tools_) {
    if (now >= deadline) expired.push_back(id);
  }
  for (const auto& id : expired) {
    pending_tools_.erase(id);
    settle_tool(now, id, std::nullopt, "tool timed out after " + std::to_string(config_.tool_timeout_ms) + " ms");
  }
  if (typing_idle_at_ && now >= *typing_idle_at_) {
    typing_idle_at_.reset();
    if (typing_sent_ && phase_ == Phase::confirmed) transmit(protocol::Typing{client_id_, false, timestamp(now)});
    typing_sent_ = false;
  }
}

std::optional<int64_t> ClientEngine::poll_timeout() const {
  std::optional<int64_t> t;
  auto consider = [&t](int64_t v) {
    if (!t || v < *t) t = v;
  };
  if (attempt_deadline_ && (phase_ == Phase::ticket || phase_ == Phase::opening || phase_ == Phase::handshake)) {
    consider(*attempt_deadline_);
  }
  if (phase_ == Phase::waiting_retry && next_retry_at_) consider(*next_retry_at_);
  if (phase_ == Phase::confirmed) {
    consider(next_ping_at_);
    consider(last_rx_at_ + 3 * heartbeat_ms_);
    for (const auto& e : outbox_) {
      if (written_.count(e.message_id)) continue;
      if (e.not_before > 0) consider(e.not_before);
      break;  // only the first unwritten entry can be waiting
    }
  }
  for (const auto& [id, deadline] : pending_tools_) consider(deadline);
  if (typing_idle_at_) consider(*typing_idle_at_);
  return t;
}

// ------------------------------------------------------------------ messages in memory

StoredMessage* ClientEngine::find(std::string_view id) {
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  // Not loaded: it may be older than the loaded page.
  auto m = store_.find_message(id);
  if (!check(m) || !*m) return nullptr;
  ensure_loaded_from((*m)->ord);
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

StoredMessage* ClientEngine::find_reply(std::string_view reply_to) {
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->role == "assistant" && it->reply_to == reply_to) return &*it;
  }
  auto m = store_.find_reply(reply_to);
  if (!check(m) || !*m) return nullptr;
  ensure_loaded_from((*m)->ord);
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (it->role == "assistant" && it->reply_to == reply_to) return &*it;
  }
  return nullptr;
}

void ClientEngine::ensure_loaded_from(int64_t ord) {
  if (!messages_.empty() && ord >= messages_.front().ord) return;
  const int64_t front = messages_.empty() ? INT64_MAX : messages_.front().ord;
  auto more = store_.messages_from(ord);
  if (!check(more)) return;
  auto pos = messages_.begin();
  std::vector<const StoredMessage*> added;
  for (auto& m : *more) {
    if (m.ord >= front) break;
    added.push_back(&*messages_.insert(pos, std::move(m)));
  }
  if (added.empty()) return;
  // Older messages joined the loaded ones: tell the UI as a load_older would.
  for (const auto* m : added) emit_message(*m);
  auto more_before = store_.has_messages_before(messages_.front().ord);
  const bool has_more = check(more_before) && (*more_before || !conversation_id_.empty());
  emit(std::string("{\"type\":\"history\",\"hasMore\":") + (has_more ? "true" : "false") + "}");
}

void ClientEngine::save(StoredMessage& m) { check(store_.put_message(m)); }

void ClientEngine::place(StoredMessage m) {
  auto at = store_.make_room_for_seq(m.conversation_id, m.seq);
  if (!check(at)) return;
  const bool in_memory = messages_.empty() || *at >= messages_.front().ord;
  for (auto& x : messages_) {
    if (x.ord >= *at) ++x.ord;
  }
  ++next_ord_;
  m.ord = *at;
  save(m);
  if (!in_memory) return;
  auto pos = std::find_if(messages_.begin(), messages_.end(), [&](const StoredMessage& x) { return x.ord > m.ord; });
  auto it = messages_.insert(pos, std::move(m));
  emit_message(*it);
}

StoredMessage& ClientEngine::assistant_for(const std::string& reply_to, const std::string& server_id,
                                           const std::string& ts, bool* created) {
  *created = false;
  StoredMessage* m = find_reply(reply_to);
  if (!m && !server_id.empty()) {
    m = find(server_id);
    // The same server id for another message's reply (a broken or hostile
    // server) is not this reply.
    if (m && (m->role != "assistant" || (!m->reply_to.empty() && m->reply_to != reply_to))) m = nullptr;
  }
  if (m) return *m;
  StoredMessage a;
  a.id = adoptable_id(server_id) ? server_id : kProvisionalPrefix + reply_to;
  a.role = "assistant";
  a.conversation_id = conversation_id_;
  a.reply_to = reply_to;
  a.status = "streaming";
  a.created_at = ts;
  a.ord = next_ord_++;
  messages_.push_back(std::move(a));
  *created = true;
  return messages_.back();
}

// Ids stay unique (the UI keys messages by id; found by fuzz_client_engine):
// a server's reply id is taken only if no message has it yet and it does not
// look like a provisional id ("reply:<some message>").
bool ClientEngine::adoptable_id(const std::string& id) {
  return !id.empty() && id.rfind(kProvisionalPrefix, 0) != 0 && find(id) == nullptr;
}

void ClientEngine::set_assistant_id(StoredMessage& m, const std::string& id) {
  if (id.empty() || m.id == id) return;
  if (m.id.rfind(kProvisionalPrefix, 0) != 0) return;  // a server id is final
  if (!adoptable_id(id)) return;
  // Renamed twice before the UI heard of the first name (a reply reopened for
  // a retry): the UI replaces the name it knows.
  std::string was = m.id;
  if (auto earlier = replaced_ids_.find(m.id); earlier != replaced_ids_.end()) {
    was = earlier->second;
    replaced_ids_.erase(earlier);
  }
  replaced_ids_[id] = was;
  m.id = id;
}

int64_t ClientEngine::oldest_known_seq() const {
  int64_t oldest = 0;
  for (const auto& m : messages_) {
    if (m.seq > 0 && m.conversation_id == conversation_id_ && (oldest == 0 || m.seq < oldest)) oldest = m.seq;
  }
  return oldest;
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

// ------------------------------------------------------------------ sending

Result<std::string> ClientEngine::send(int64_t now, std::string_view draft_json,
                                       std::vector<std::string> image_bytes) {
  Batch batch(*this);
  const Limits& limits = config_.limits;
  rapidjson::Document draft;
  draft.Parse<rapidjson::kParseValidateEncodingFlag>(draft_json.data(), draft_json.size());
  if (draft.HasParseError() || !draft.IsObject()) {
    return Error(ErrorCode::bad_json, "the draft must be a JSON object");
  }
  // A caller-chosen messageId makes send idempotent across hosts: a browser tab
  // that handed a draft to the leader tab sends it again, with the same id, to
  // whichever tab leads next; a message already stored under that id is
  // answered with its id and nothing is stored twice.
  std::string given_id;
  if (auto it = draft.FindMember("messageId"); it != draft.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsString() || !is_uuid(std::string_view(it->value.GetString(), it->value.GetStringLength()))) {
      return invalid("field 'messageId' must be a UUID");
    }
    given_id.assign(it->value.GetString(), it->value.GetStringLength());
    if (find(given_id)) return given_id;
    auto stored = store_.find_message(given_id);
    if (!stored) return stored.error();
    if (*stored) return given_id;
  }
  std::string content;
  if (auto it = draft.FindMember("content"); it != draft.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsString()) return invalid("field 'content' must be a string");
    content.assign(it->value.GetString(), it->value.GetStringLength());
  }
  const rapidjson::Value* images = nullptr;
  if (auto it = draft.FindMember("images"); it != draft.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsArray()) return invalid("field 'images' must be an array");
    images = &it->value;
    if (images->Size() != image_bytes.size()) {
      return invalid("the draft lists " + std::to_string(images->Size()) + " images but " +
                     std::to_string(image_bytes.size()) + " were given");
    }
  }
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
    if (images) {
      const rapidjson::Value& v = (*images)[static_cast<rapidjson::SizeType>(i)];
      if (!v.IsObject()) return invalid("field '" + where + "' must be an object");
      auto str = [&](const char* key, size_t max, std::optional<std::string>* out) -> Result<bool> {
        auto f = v.FindMember(key);
        if (f == v.MemberEnd() || f->value.IsNull()) return true;
        if (!f->value.IsString() || f->value.GetStringLength() == 0) {
          return invalid("field '" + where + "." + key + "' must be a non-empty string");
        }
        if (f->value.GetStringLength() > max) {
          return invalid("field '" + where + "." + key + "' is longer than " + std::to_string(max) + " bytes");
        }
        *out = std::string(f->value.GetString(), f->value.GetStringLength());
        return true;
      };
      std::optional<std::string> id;
      if (auto r = str("id", kMaxIdBytes, &id); !r) return r.error();
      if (auto r = str("mimeType", 64, &declared); !r) return r.error();
      if (auto r = str("filename", kMaxFilenameBytes, &img.filename); !r) return r.error();
      if (id) img.id = *id;
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
  m.role = "user";
  m.conversation_id = conversation_id_;
  m.status = "queued";
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
  if (stored.status == "queued") emit_message(stored);
  return id;
}

void ClientEngine::flush_outbox(int64_t now) {
  if (phase_ != Phase::confirmed) return;
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
        m->status = "failed";
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
    if (m->status == "queued") {
      m->status = "sent";
      save(*m);
      emit_message(*m);
    }
  }
}

Result<bool> ClientEngine::retry(int64_t now, std::string_view message_id) {
  Batch batch(*this);
  StoredMessage* m = find(message_id);
  if (!m || m->role != "user") return Error(ErrorCode::not_found, "no message '" + std::string(message_id) + "'");
  if (m->status != "failed") {
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
  m->status = "queued";
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
  if (m->status == "queued") emit_message(*m);
  return true;
}

Result<bool> ClientEngine::cancel(int64_t now, std::string_view message_id) {
  Batch batch(*this);
  StoredMessage* m = find(message_id);
  if (!m || m->role != "user") return Error(ErrorCode::not_found, "no message '" + std::string(message_id) + "'");
  if (m->status == "processed" || m->status == "failed") return false;
  if (const StoredMessage* reply = find_reply(message_id); reply && reply_final(*reply)) return false;
  if (phase_ != Phase::confirmed) return false;
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
  rapidjson::Document doc;
  doc.SetObject();
  auto& alloc = doc.GetAllocator();
  rapidjson::Document values(&alloc);
  const std::string_view text = values_json.empty() ? std::string_view("{}") : values_json;
  values.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (values.HasParseError()) {
    return Error(ErrorCode::bad_json, "values must be JSON: invalid JSON at offset " +
                                          std::to_string(values.GetErrorOffset()));
  }
  if (!values.IsObject()) return Error(ErrorCode::invalid_field, "field 'values' must be an object");
  const std::string ts = timestamp(now);
  doc.AddMember("type", "component_action", alloc);
  doc.AddMember("componentId", rapidjson::Value(component_id.data(), component_id.size(), alloc), alloc);
  doc.AddMember("action", rapidjson::Value(action.data(), action.size(), alloc), alloc);
  doc.AddMember("values", values, alloc);
  doc.AddMember("timestamp", rapidjson::Value(ts.data(), ts.size(), alloc), alloc);
  auto frame = protocol::client_frame_from_json(doc, config_.limits);
  if (!frame) return frame.error();
  std::string encoded = protocol::encode(*frame);
  if (encoded.size() > config_.limits.max_frame_bytes) {
    return Error(ErrorCode::too_large, "the component_action frame is larger than maxFrameBytes");
  }
  if (phase_ != Phase::confirmed) return false;
  transmit(std::move(encoded));
  return true;
}

Result<bool> ClientEngine::load_older(int64_t now) {
  Batch batch(*this);
  if (!messages_.empty()) {
    auto page = store_.messages_before(messages_.front().ord, config_.history_page);
    if (!page) return page.error();
    if (!page->empty()) {
      const size_t n = page->size();
      messages_.insert(messages_.begin(), std::make_move_iterator(page->begin()),
                       std::make_move_iterator(page->end()));
      auto it = messages_.begin();
      for (size_t i = 0; i < n; ++i, ++it) emit_message(*it);
      auto more = store_.has_messages_before(messages_.front().ord);
      if (!more) return more.error();
      // Past the local store the server may still have older messages.
      const bool has_more = *more || !conversation_id_.empty();
      emit("{\"type\":\"history\",\"hasMore\":" + std::string(has_more ? "true" : "false") + "}");
      return true;
    }
  }
  if (phase_ != Phase::confirmed || conversation_id_.empty()) return false;
  const int64_t oldest = oldest_known_seq();
  send_load_messages(oldest > 0 ? std::optional<int64_t>(oldest) : std::nullopt);
  return true;
}

void ClientEngine::set_typing(int64_t now, bool typing) {
  Batch batch(*this);
  if (typing) {
    if (phase_ != Phase::confirmed) return;
    if (!typing_sent_) {
      transmit(protocol::Typing{client_id_, true, timestamp(now)});
      typing_sent_ = true;
    }
    typing_idle_at_ = now + config_.typing_idle_ms;
  } else {
    if (typing_sent_ && phase_ == Phase::confirmed) transmit(protocol::Typing{client_id_, false, timestamp(now)});
    typing_sent_ = false;
    typing_idle_at_.reset();
  }
}

void ClientEngine::configure_tools(int64_t now, std::string_view tools_json) {
  Batch batch(*this);
  rapidjson::Document doc;
  doc.SetObject();
  rapidjson::Document tools(&doc.GetAllocator());
  tools.Parse<rapidjson::kParseValidateEncodingFlag>(tools_json.data(), tools_json.size());
  if (tools.HasParseError()) {
    emit_error(Error(ErrorCode::bad_json, "tools must be JSON: " + std::string("invalid JSON at offset ") +
                                              std::to_string(tools.GetErrorOffset())));
    return;
  }
  doc.AddMember("type", "configure_tools", doc.GetAllocator());
  doc.AddMember("tools", tools, doc.GetAllocator());
  auto frame = protocol::client_frame_from_json(doc, config_.limits);
  if (!frame) {
    emit_error(frame.error());
    return;
  }
  tools_frame_ = protocol::encode(*frame);
  if (phase_ == Phase::confirmed) transmit(*tools_frame_);
}

// ------------------------------------------------------------------ tools

void ClientEngine::tool_result(int64_t now, std::string_view tool_call_id, std::string_view result_json,
                               bool is_error) {
  Batch batch(*this);
  auto it = pending_tools_.find(std::string(tool_call_id));
  if (it == pending_tools_.end()) return;  // settled already, timed out, or unknown
  pending_tools_.erase(it);
  std::optional<std::string> result;
  std::optional<std::string> error;
  rapidjson::Document doc;
  const std::string_view text = result_json.empty() ? std::string_view("null") : result_json;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (is_error) {
    if (doc.HasParseError()) {
      error = std::string(result_json);
    } else if (doc.IsString()) {
      error = std::string(doc.GetString(), doc.GetStringLength());
    } else {
      error = protocol::to_json_text(doc);
    }
    if (error->empty() || *error == "null") error = "the tool failed";
  } else if (doc.HasParseError()) {
    error = "the tool returned invalid JSON";
  } else {
    result = protocol::to_json_text(doc);
  }
  settle_tool(now, std::string(tool_call_id), std::move(result), std::move(error));
}

void ClientEngine::settle_tool(int64_t now, const std::string& tool_call_id, std::optional<std::string> result_json,
                               std::optional<std::string> error) {
  store::ToolResultRecord rec{tool_call_id, std::move(result_json), std::move(error)};
  check(store_.put_tool_result(rec));
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    bool changed = false;
    for (auto& call : it->tool_calls) {
      if (call.tool_call_id != tool_call_id) continue;
      call.status = rec.error ? "error" : "done";
      call.result_json = rec.result_json;
      call.error = rec.error;
      changed = true;
    }
    if (changed) {
      save(*it);
      emit_message(*it);
      break;
    }
  }
  send_tool_result(rec);
}

void ClientEngine::send_tool_result(const store::ToolResultRecord& rec) {
  if (phase_ != Phase::confirmed) return;  // the server replays the tool_call on resume
  protocol::ToolResult r;
  r.tool_call_id = rec.tool_call_id;
  if (rec.error) {
    r.error = rec.error;
  } else {
    r.result = protocol::RawJson{rec.result_json.value_or("null")};
  }
  transmit(r);
}

void ClientEngine::on_tool_call(int64_t now, const protocol::ToolCall& t, bool replay) {
  auto stored = store_.find_tool_result(t.tool_call_id);
  if (!check(stored)) return;
  if (*stored) {
    send_tool_result(**stored);  // answered before: never run twice
    return;
  }
  if (pending_tools_.count(t.tool_call_id)) return;  // running now; its answer will be sent
  bool created = false;
  StoredMessage& m = assistant_for(t.reply_to, "", t.timestamp, &created);
  for (const auto& call : m.tool_calls) {
    if (call.tool_call_id == t.tool_call_id) {
      // Started by an earlier run of this client that ended before the tool
      // settled: running it again could repeat its effect.
      settle_tool(now, t.tool_call_id, std::nullopt, "the tool call was interrupted before it finished");
      return;
    }
  }
  store::StoredToolCall call;
  call.tool_call_id = t.tool_call_id;
  call.name = t.name;
  call.arguments_json = t.arguments.text;
  m.tool_calls.push_back(std::move(call));
  save(m);
  emit_message(m);
  pending_tools_[t.tool_call_id] = now + config_.tool_timeout_ms;
  Action a = make_action(Action::Kind::run_tool);
  a.tool_call_id = t.tool_call_id;
  a.tool_name = t.name;
  a.arguments_json = t.arguments.text;
  actions_.push_back(std::move(a));
}

// ------------------------------------------------------------------ server frames

void ClientEngine::handle_frame(int64_t now, std::string_view text) {
  Batch batch(*this);
  if (phase_ != Phase::handshake && phase_ != Phase::confirmed) return;  // not our socket
  last_rx_at_ = now;
  auto decoded = protocol::decode_server_frame(text, config_.limits);
  if (!decoded) {
    if (phase_ == Phase::handshake && decoded.error().code != ErrorCode::unknown_type) {
      refuse_handshake(now, text, decoded.error());
    } else {
      emit_error(decoded.error());
    }
    return;
  }
  const protocol::ServerFrame& frame = *decoded;
  if (const auto* c = std::get_if<protocol::ConnectConfirm>(&frame)) {
    on_confirm(now, *c);
    return;
  }
  const std::optional<int64_t> seq = protocol::seq_of(frame);
  const bool replay = seq && *seq <= last_seq_;
  if (replay && !std::holds_alternative<protocol::ToolCall>(frame) &&
      !std::holds_alternative<protocol::Confirm>(frame)) {
    return;  // applied before
  }
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, protocol::Confirm>) {
          on_confirm_frame(now, f, replay);
        } else if constexpr (std::is_same_v<T, protocol::Thinking>) {
          on_thinking(f);
        } else if constexpr (std::is_same_v<T, protocol::Delta>) {
          on_delta(f);
        } else if constexpr (std::is_same_v<T, protocol::Response>) {
          on_response(f);
        } else if constexpr (std::is_same_v<T, protocol::ToolCall>) {
          on_tool_call(now, f, replay);
        } else if constexpr (std::is_same_v<T, protocol::Component>) {
          on_component(f);
        } else if constexpr (std::is_same_v<T, protocol::TypingIndicator>) {
          emit(std::string("{\"type\":\"typing\",\"isTyping\":") + (f.is_typing ? "true" : "false") + "}");
        } else if constexpr (std::is_same_v<T, protocol::History>) {
          on_history(f);
        } else if constexpr (std::is_same_v<T, protocol::ErrorEvent>) {
          on_error_frame(now, f);
        }
        // Pong: receiving it is all that matters (liveness).
      },
      frame);
  if (seq && *seq > last_seq_ && !conversation_id_.empty()) {
    last_seq_ = *seq;
    check(store_.set_last_seq(conversation_id_, last_seq_));
  }
}


void ClientEngine::on_confirm_frame(int64_t now, const protocol::Confirm& c, bool replay) {
  StoredMessage* m = find(c.message_id);
  if (!m || m->role != "user") return;
  const std::string before = store::message_to_json(*m);
  const std::string before_record = fingerprint(*m);
  mark_received(*m);
  if (!c.image_id && m->seq == 0) m->seq = c.seq;
  if (!conversation_id_.empty()) m->conversation_id = conversation_id_;
  if (c.image_id && c.status) {
    for (auto& img : m->images) {
      if (img.id == *c.image_id && image_rank(*c.status) > image_rank(img.status)) img.status = *c.status;
    }
  }
  // The server has the message: it leaves the outbox and its bytes go.
  remove_from_outbox(m->id, true);
  if (fingerprint(*m) != before_record) save(*m);
  if (store::message_to_json(*m) != before) emit_message(*m);
}

void ClientEngine::on_thinking(const protocol::Thinking& t) {
  bool created = false;
  StoredMessage& m = assistant_for(t.reply_to, "", t.timestamp, &created);
  if (!created && reply_final(m)) {
    if (!reopen_for_retry(m, find(t.reply_to), replaced_ids_)) return;
    runtime_.erase(t.reply_to);
  }
  m.thinking.push_back(t.step);
  save(m);
  emit_message(m);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "type", "thinking");
  put(w, "replyTo", t.reply_to);
  put(w, "step", t.step);
  w.EndObject();
  emit(text_of(buf));
}

void ClientEngine::on_delta(const protocol::Delta& d) {
  bool created = false;
  StoredMessage& m = assistant_for(d.reply_to, d.message_id, d.timestamp, &created);
  if (!created && reply_final(m)) {
    if (!reopen_for_retry(m, find(d.reply_to), replaced_ids_)) return;
    runtime_.erase(d.reply_to);
  }
  const bool renamed = m.id != d.message_id && m.id.rfind(kProvisionalPrefix, 0) == 0;
  set_assistant_id(m, d.message_id);
  if (created || renamed) {
    save(m);
    emit_message(m);
  }
  Runtime& rt = runtime_[d.reply_to];
  if (d.index < rt.next_index) return;  // duplicate
  if (d.index > rt.next_index) {
    rt.early.emplace(d.index, d.delta);  // wait for the gap to fill
    return;
  }
  auto apply = [&](int64_t index, const std::string& piece) {
    m.content += piece;
    rt.next_index = index + 1;
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    put(w, "type", "delta");
    put(w, "replyTo", d.reply_to);
    put(w, "messageId", m.id);
    w.Key("index");
    w.Int64(index);
    put(w, "delta", piece);  // the piece only: the text so far would make a reply O(n^2) (issue 14.13)
    w.EndObject();
    emit(text_of(buf));
  };
  apply(d.index, d.delta);
  while (!rt.early.empty() && rt.early.begin()->first <= rt.next_index) {
    auto first = rt.early.begin();
    if (first->first == rt.next_index) apply(first->first, first->second);
    rt.early.erase(first);
  }
}

void ClientEngine::apply_to_user(const std::string& reply_to, const std::string& status,
                                 const std::optional<std::vector<protocol::ImageAnalysis>>& analysis) {
  StoredMessage* u = find(reply_to);
  if (!u || u->role != "user") return;
  const std::string before = store::message_to_json(*u);
  if (u->status != "failed" && user_rank(u->status) < user_rank(status)) u->status = status;
  if (analysis) {
    for (const auto& a : *analysis) {
      for (auto& img : u->images) {
        if (img.id != a.image_id) continue;
        img.analysis_json = analysis_json(a);
        if (image_rank(img.status) < image_rank("analyzed")) img.status = "analyzed";
      }
    }
  }
  // An answer proves the server has the message.
  remove_from_outbox(u->id, true);
  if (store::message_to_json(*u) != before) {
    save(*u);
    emit_message(*u);
  }
}

void ClientEngine::on_response(const protocol::Response& r) {
  bool created = false;
  StoredMessage& m = assistant_for(r.reply_to, r.message_id, r.timestamp, &created);
  if (!created && reply_final(m) && !reopen_for_retry(m, find(r.reply_to), replaced_ids_)) {
    return;  // a replayed response changes nothing
  }
  set_assistant_id(m, r.message_id);
  m.content = r.content;
  m.status = r.cancelled ? "cancelled" : "complete";
  m.seq = r.seq;
  m.citations_json = citations_json(r.citations);
  m.image_analysis_json = analysis_list_json(r.image_analysis);
  runtime_.erase(r.reply_to);
  save(m);
  emit_message(m);
  apply_to_user(r.reply_to, "processed", r.image_analysis);
}

void ClientEngine::on_component(const protocol::Component& c) {
  bool created = false;
  StoredMessage& m = assistant_for(c.reply_to, "", c.timestamp, &created);
  for (const auto& x : m.components) {
    if (x.component_id == c.component_id) return;
  }
  m.components.push_back(store::StoredComponent{c.component_id, c.component, c.props.text});
  save(m);
  emit_message(m);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "type", "component");
  put(w, "replyTo", c.reply_to);
  put(w, "componentId", c.component_id);
  put(w, "component", c.component);
  put_raw(w, "props", c.props.text);
  w.EndObject();
  emit(text_of(buf));
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
    x.status = "failed";
    x.error_code = error_code_name(e.error.code);
    x.error_message = e.error.message;
    save(x);
    emit_message(x);
  };
  if (m->role == "user") {
    if (m->status == "processed" || m->status == "failed") return;
    remove_from_outbox(m->id, false);  // bytes kept for retry()
    fail(*m);
    if (StoredMessage* reply = find_reply(id); reply && !reply_final(*reply)) fail(*reply);
  } else if (!reply_final(*m)) {
    fail(*m);
  }
}

void ClientEngine::on_history(const protocol::History& h) {
  for (const auto& e : h.messages) {
    if (e.role == "user") {
      if (StoredMessage* m = find(e.message_id)) {
        if (m->role != "user") continue;
        const std::string before = store::message_to_json(*m);
        const std::string before_record = fingerprint(*m);
        mark_received(*m);
        if (m->seq == 0) m->seq = e.seq;
        remove_from_outbox(m->id, true);
        if (fingerprint(*m) != before_record) save(*m);
        if (store::message_to_json(*m) != before) emit_message(*m);
        continue;
      }
      StoredMessage m;
      m.id = e.message_id;
      m.role = "user";
      m.conversation_id = h.conversation_id;
      m.status = "received";
      m.seq = e.seq;
      m.created_at = e.timestamp;
      m.content = e.content;
      for (const auto& hi : e.images) {
        store::StoredImage img;
        img.id = hi.id;
        img.mime_type = hi.mime_type;
        img.filename = hi.filename;
        m.images.push_back(std::move(img));
      }
      place(std::move(m));
    } else {
      const std::string reply_to = e.reply_to.value_or("");
      StoredMessage* m = reply_to.empty() ? nullptr : find_reply(reply_to);
      if (!m) {
        m = find(e.message_id);
        if (m && m->role != "assistant") continue;
      }
      if (m) {
        if (!reply_final(*m)) {
          set_assistant_id(*m, e.message_id);
          m->content = e.content;
          m->status = e.cancelled ? "cancelled" : "complete";
          m->seq = e.seq;
          m->citations_json = citations_json(e.citations);
          m->image_analysis_json = analysis_list_json(e.image_analysis);
          runtime_.erase(reply_to);
          save(*m);
          emit_message(*m);
        }
      } else {
        StoredMessage a;
        a.id = e.message_id;
        a.role = "assistant";
        a.conversation_id = h.conversation_id;
        a.reply_to = reply_to;
        a.status = e.cancelled ? "cancelled" : "complete";
        a.seq = e.seq;
        a.created_at = e.timestamp;
        a.content = e.content;
        a.citations_json = citations_json(e.citations);
        a.image_analysis_json = analysis_list_json(e.image_analysis);
        place(std::move(a));
      }
      if (!reply_to.empty()) apply_to_user(reply_to, "processed", e.image_analysis);
    }
  }
  emit(std::string("{\"type\":\"history\",\"hasMore\":") + (h.has_more ? "true" : "false") + "}");
}

}  // namespace chatwire::client
