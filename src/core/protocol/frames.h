// The frame table: one row per frame type and direction (frames.cc), and what
// other layers ask of it.
//
// A row holds a frame type's wire name, its fields in wire order, whether it
// carries a `seq`, whether it is stored in the server's event log and replayed
// on resume, whether the application may broadcast it, and which of its fields
// name what it refers to (the id the store indexes it by, the client message
// it answers). The codec's readers and writers, type_name, seq_of / set_seq,
// refs_of and the hub's storable / broadcastable rules are all read from the
// rows, so a new frame type is a row (plus its struct and its field table,
// from which its reader and writer are derived) and nothing else in this
// layer. Model: h11's READERS / WRITERS tables.
#ifndef CHATWIRE_CORE_PROTOCOL_FRAMES_H_
#define CHATWIRE_CORE_PROTOCOL_FRAMES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/protocol/messages.h"

namespace chatwire::protocol {

// Which side sends a frame type.
enum class Direction { client_to_server, server_to_client };

// How a server frame type carries `seq` (PROTOCOL.md, Recovery).
enum class SeqRule {
  none,         // never (pong, delta, typing, history, connect_confirm)
  always,       // every such frame (confirm, thinking, response, tool_call, component)
  when_stored,  // only when stored: an error about a processed message (error)
};

// One row of the frame table.
struct FrameInfo {
  Direction direction;
  const char* type;    // the wire `type`, e.g. "tool_call"
  const char* fields;  // its other fields in wire order, space-separated (the writer's order)
  SeqRule seq = SeqRule::none;
  // Stored in the event log with its seq, replayed to a resuming client
  // (every row with a seq; an error only when it has one).
  bool stored = false;
  // ServerHub::broadcast may send it (an application-authored event).
  bool broadcastable = false;
  // The wire field of the id the store indexes the event by ("" none), and of
  // the client message it answers ("" none).
  const char* ref = "";
  const char* reply_to = "";
};

// The row of a wire type, or nullptr for a type that direction does not have.
const FrameInfo* client_frame_info(std::string_view type);
const FrameInfo* server_frame_info(std::string_view type);

// The row of a frame.
const FrameInfo& frame_info(const ClientFrame& frame);
const FrameInfo& frame_info(const ServerFrame& frame);

// Every row of a direction, in the order of the ClientFrame / ServerFrame
// alternatives (for tests and docs).
size_t frame_count(Direction direction);
const FrameInfo& frame_info_at(Direction direction, size_t index);

// The wire `type` of a frame, e.g. "connect_confirm".
const char* type_name(const ClientFrame& frame);
const char* type_name(const ServerFrame& frame);

// The `seq` of a server frame that carries one, else nullopt.
std::optional<int64_t> seq_of(const ServerFrame& frame);
// Sets the `seq` of a frame whose row has one (the store assigns it); no-op
// for the others.
void set_seq(ServerFrame& frame, int64_t seq);

// The ids a stored event is indexed by (the row's `ref` and `reply_to`
// fields' values; "" where the row has none).
struct FrameRefs {
  std::string ref_id;
  std::string reply_to;
};
FrameRefs refs_of(const ServerFrame& frame);

}  // namespace chatwire::protocol

#endif  // CHATWIRE_CORE_PROTOCOL_FRAMES_H_
