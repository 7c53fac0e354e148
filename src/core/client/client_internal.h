// Internal to src/core/client/: what the engine's files share (client_engine.cc
// the state machine, timers and frame dispatch; client_connection.cc,
// client_outbox.cc, client_replies.cc). Message states are enums here; their
// string form (the DESIGN.md names the store and JS see) is written by
// state_name() and nowhere else.
#ifndef CHATWIRE_CORE_CLIENT_CLIENT_INTERNAL_H_
#define CHATWIRE_CORE_CLIENT_CLIENT_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "core/client/client_engine.h"

namespace chatwire::client {

enum class ClientEngine::Input { connect, new_cycle, confirmed, attempt_failed, exhausted, lost, retry_due, disconnect };

// One row of the phase table (kPhases in client_engine.cc, one per Phase in order).
struct ClientEngine::PhaseInfo {
  Phase phase;
  bool socket;        // an open action is out: the host has, or is opening, a socket
  bool connect_sent;  // `connect` written: the server's frames are read
  bool live;          // confirmed: commands write frames
};

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

// A store result: false after a store error, which the input's batch then
// rolls back and reports (end_batch).
template <class T>
bool ClientEngine::check(const Result<T>& r) {
  if (r.ok()) return true;
  if (!store_error_) store_error_ = r.error();
  return false;
}

}  // namespace chatwire::client

namespace chatwire::client::internal {

// A user message's state, in its forward order; failed is off the line
// (an error naming the message) until retry().
enum class UserState { queued, sent, received, processed, failed };
// An assistant reply's state.
enum class ReplyState { streaming, complete, cancelled, failed };
// One image's state, in its forward order (none: nothing heard yet).
enum class ImageState { none, received, processing, analyzed };
// One tool call's state.
enum class ToolState { running, done, error };

const char* state_name(UserState s);
const char* state_name(ReplyState s);
const char* state_name(ImageState s);  // "" for none
const char* state_name(ToolState s);

// The state a stored record names (nullopt: none of them).
std::optional<UserState> user_state(const std::string& s);
ImageState image_state(const std::string& s);  // none for anything else

inline void set_state(store::StoredMessage& m, UserState s) { m.status = state_name(s); }
inline void set_state(store::StoredMessage& m, ReplyState s) { m.status = state_name(s); }
inline bool is(const store::StoredMessage& m, UserState s) { return m.status == state_name(s); }
inline bool is(const store::StoredMessage& m, ReplyState s) { return m.status == state_name(s); }

// Moves a user message forward to `s` (never back, never out of failed).
void advance(store::StoredMessage& m, UserState s);
// A reply that no longer changes by streaming events.
inline bool reply_final(const store::StoredMessage& m) { return !is(m, ReplyState::streaming); }

constexpr const char* kUser = "user";
constexpr const char* kAssistant = "assistant";
// The id of a reply before the server's reply id is known: "reply:<replyTo>".
constexpr const char* kProvisionalPrefix = "reply:";
inline bool provisional(const std::string& id) { return id.rfind(kProvisionalPrefix, 0) == 0; }

// Everything put_message writes, to decide whether a write is needed.
std::string fingerprint(const store::StoredMessage& m);

ClientEngine::Action make_action(ClientEngine::Action::Kind kind);
// An invalid_field Error (config and draft checks).
Error invalid(const std::string& message);

}  // namespace chatwire::client::internal

#endif  // CHATWIRE_CORE_CLIENT_CLIENT_INTERNAL_H_
