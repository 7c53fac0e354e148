// Helpers the ServerHub's files share (server_hub.cc, hub_turns.cc,
// hub_broadcast.cc): the application-event writer (protocol/json.h) and the
// frame-table helpers. Internal to the hub; not part of its API.
#ifndef CHATWIRE_CORE_SERVER_HUB_UTIL_H_
#define CHATWIRE_CORE_SERVER_HUB_UTIL_H_

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/protocol/codec.h"
#include "core/protocol/frames.h"
#include "core/protocol/json.h"
#include "core/protocol/errors.h"
#include "core/protocol/limits.h"
#include "core/protocol/messages.h"
#include "core/protocol/time.h"

namespace chatwire::server::hub_util {

using protocol::ServerFrame;

inline std::string ts(int64_t now) { return format_timestamp(now); }

// The application events (camelCase JSON objects): protocol/json.h's writer.
using JsonOut = protocol::EventWriter;

using protocol::set_seq;  // the frame table's
using protocol::refs_of;  // (ref_id, reply_to): the frame table's

using protocol::canonical_json;  // any JSON value given by the application, compact

// Version 1.1: a conversation-scoped frame names its conversation (every
// connection of the owner gets every conversation's frames). Sets
// `conversationId` on the frame types that have an optional one; an error
// only when it names a message.
template <class T, class = void>
struct has_optional_conversation : std::false_type {};
template <class T>
struct has_optional_conversation<T, std::void_t<decltype(std::declval<T&>().conversation_id.reset())>>
    : std::true_type {};

inline void in_conversation(ServerFrame& frame, const std::string& conversation_id) {
  std::visit(
      [&](auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, protocol::ErrorEvent>) {
          if (!f.error.message_id.empty()) f.conversation_id = conversation_id;
        } else if constexpr (has_optional_conversation<T>::value) {
          f.conversation_id = conversation_id;
        }
      },
      frame);
}

// The frame's text, in its conversation.
inline std::string encode_in(const std::string& conversation_id, ServerFrame frame) {
  in_conversation(frame, conversation_id);
  return protocol::encode(frame);
}

}  // namespace chatwire::server::hub_util

#endif  // CHATWIRE_CORE_SERVER_HUB_UTIL_H_
