// JSON for the layers above the protocol: the one writer of the events and
// results the core hands to the bindings (and of every error object), and the
// reading of application-authored JSON that becomes a frame. RapidJSON is
// used under src/core/protocol/ only; the other layers call these.
#ifndef CHATWIRE_CORE_PROTOCOL_JSON_H_
#define CHATWIRE_CORE_PROTOCOL_JSON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/protocol/errors.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"

namespace chatwire::protocol {

// A compact JSON writer. Low-level calls (key, value, begin_*/end_*) write in
// order; the keyed helpers (str, num, ...) write one member of the object
// being written. Call done() once, at the end.
class JsonWriter {
 public:
  JsonWriter();
  ~JsonWriter();
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view key);
  JsonWriter& value(std::string_view v);
  JsonWriter& integer(int64_t v);
  JsonWriter& unsigned_integer(uint64_t v);
  JsonWriter& number(double v);
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  // An already-serialized JSON value, written as is.
  JsonWriter& raw(std::string_view json);
  // An error object: {"code", <text_key>, "messageId"?, "imageId"?,
  // "retryAfterMs"?}. `text_key` is "error" on the wire and in binding
  // results, "message" in client events and the client store.
  JsonWriter& error(const Error& e, const char* text_key);

  JsonWriter& str(const char* key, std::string_view v);
  JsonWriter& str_or_null(const char* key, std::string_view v);  // null for ""
  JsonWriter& num(const char* key, int64_t v);
  JsonWriter& boolean(const char* key, bool v);
  JsonWriter& raw(const char* key, std::string_view json);

  // The text written so far (everything closed by then).
  std::string done();

 private:
  JsonWriter& chain(bool) { return *this; }

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A JsonWriter with its outer object already begun: done() closes it. The
// shape of every event the core queues for the bindings.
class EventWriter : public JsonWriter {
 public:
  EventWriter() { begin_object(); }
  std::string done() {
    end_object();
    return JsonWriter::done();
  }
};

// The binding result for an error: {"ok":false,"error":{"code","error",...}}.
std::string error_result_json(const Error& error);
// The binding result for a value: {"ok":true,"value":<v>}.
std::string value_result_json(bool value);
std::string value_result_json(std::string_view value);

// Any JSON value given by the application, in compact canonical form; "" is
// `if_empty`. Not JSON: bad_json "<what> is not valid JSON".
Result<std::string> canonical_json(std::string_view text, const char* what, const char* if_empty);

// The messageId of a frame refused before decoding (rate limit), when it is a
// readable `message` frame with a valid id; else "".
std::string peek_message_id(std::string_view text, const Limits& limits);

// A server frame the application authored (ServerHub::respond): `json` is a
// JSON object ("" is {}); `set` members replace the application's, `defaults`
// fill in absent ones, `drop` are removed. The `seq` is not read: the store
// assigns it (set_seq). Every error is prefixed with "<what>: ".
struct FramePatch {
  std::vector<std::pair<const char*, std::string>> set;
  std::vector<std::pair<const char*, std::string>> defaults;
  std::vector<const char*> drop;
};
Result<ServerFrame> app_server_frame(std::string_view json, const Limits& limits, const FramePatch& patch,
                                     const char* what);

// An event for ServerHub::broadcast: a server frame of a broadcastable type
// (frames.h), `timestamp` filled in when absent, seq not read.
Result<ServerFrame> broadcast_frame(std::string_view json, const Limits& limits, const std::string& timestamp);

// Whom a broadcast goes to: exactly one of conversationId / userId (a
// non-empty string); the other is "".
struct BroadcastTarget {
  std::string conversation_id;
  std::string user_id;
};
Result<BroadcastTarget> broadcast_target(std::string_view json, const Limits& limits);

// Whose conversations server.listConversations() lists: exactly one of
// userId / clientId (a non-empty string); the other is "".
struct OwnerRef {
  std::string user_id;
  std::string client_id;
};
Result<OwnerRef> owner_ref(std::string_view json, const Limits& limits);

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_JSON_H_
