// Helpers the ServerHub's files share (server_hub.cc, hub_turns.cc,
// hub_broadcast.cc): the application-event writer and the frame patching the
// turn commands and broadcast do. Internal to the hub; not part of its API.
#ifndef CHATWIRE_CORE_SERVER_HUB_UTIL_H_
#define CHATWIRE_CORE_SERVER_HUB_UTIL_H_

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/protocol/codec.h"
#include "core/protocol/frames.h"
#include "core/protocol/errors.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"
#include "core/protocol/time.h"

namespace chatwire::server::hub_util {

using protocol::ServerFrame;

inline std::string ts(int64_t now) { return format_timestamp(now); }

// Small writer for the application events (camelCase JSON objects).
class JsonOut {
 public:
  JsonOut() : w_(buf_) { w_.StartObject(); }
  JsonOut& str(const char* key, std::string_view v) {
    w_.Key(key);
    return value(v);
  }
  JsonOut& value(std::string_view v) {
    w_.String(v.data() ? v.data() : "", static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  // null for "" (no ticket user)
  JsonOut& str_or_null(const char* key, std::string_view v) {
    if (v.empty()) {
      w_.Key(key);
      w_.Null();
      return *this;
    }
    return str(key, v);
  }
  JsonOut& num(const char* key, int64_t v) {
    w_.Key(key);
    w_.Int64(v);
    return *this;
  }
  JsonOut& boolean(const char* key, bool v) {
    w_.Key(key);
    w_.Bool(v);
    return *this;
  }
  JsonOut& raw(const char* key, std::string_view json) {
    w_.Key(key);
    w_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  rapidjson::Writer<rapidjson::StringBuffer>& w() { return w_; }
  std::string done() {
    w_.EndObject();
    return std::string(buf_.GetString(), buf_.GetSize());
  }

 private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

using protocol::set_seq;  // the frame table's
using protocol::refs_of;  // (ref_id, reply_to): the frame table's

// Any JSON value given by the application, in compact canonical form.
inline Result<std::string> canonical_json(std::string_view text, const char* what, const char* if_empty) {
  if (text.empty()) return std::string(if_empty);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) return Error(ErrorCode::bad_json, std::string(what) + " is not valid JSON");
  return protocol::to_json_text(doc);
}

// Parses an application-given JSON object ("" is {}).
inline Result<bool> parse_object(std::string_view text, const Limits& limits, rapidjson::Document& doc, const char* what) {
  if (text.empty()) {
    doc.SetObject();
    return true;
  }
  auto parsed = protocol::parse_json_frame(text, limits, doc);
  if (!parsed) {
    Error e = parsed.error();
    e.message = std::string(what) + ": " + e.message;
    return e;
  }
  return true;
}

inline void set_member(rapidjson::Document& doc, const char* name, rapidjson::Value value) {
  auto it = doc.FindMember(name);
  if (it != doc.MemberEnd()) {
    it->value = std::move(value);
  } else {
    doc.AddMember(rapidjson::Value(name, doc.GetAllocator()), std::move(value), doc.GetAllocator());
  }
}

inline void set_string(rapidjson::Document& doc, const char* name, std::string_view v) {
  set_member(doc, name, rapidjson::Value(v.data() ? v.data() : "", static_cast<rapidjson::SizeType>(v.size()),
                                         doc.GetAllocator()));
}

}  // namespace chatwire::server::hub_util

#endif  // CHATWIRE_CORE_SERVER_HUB_UTIL_H_
