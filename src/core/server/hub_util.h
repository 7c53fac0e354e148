// Helpers the ServerHub's files share (server_hub.cc, hub_turns.cc,
// hub_broadcast.cc): the application-event writer (protocol/json.h) and the
// frame-table helpers. Internal to the hub; not part of its API.
#ifndef CHATWIRE_CORE_SERVER_HUB_UTIL_H_
#define CHATWIRE_CORE_SERVER_HUB_UTIL_H_

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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

}  // namespace chatwire::server::hub_util

#endif  // CHATWIRE_CORE_SERVER_HUB_UTIL_H_
