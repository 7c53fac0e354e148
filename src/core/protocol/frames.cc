// The frame table (frames.h): every frame type of PROTOCOL.md, one row each,
// in the order of the ClientFrame / ServerFrame alternatives (checked at
// compile time below).
//
// A row names the frame's field table (frame_codec.h), from which its reader
// and writer are derived, and for server frames the struct members that hold
// `seq` and the ids the store indexes it by. Everything the codec, the hub and
// the client ask about a frame type is read from here.
//
// Adding a frame type: its struct in messages.h and the variant; its field
// table in frame_codec.h (with a named check in frames_client.cc /
// frames_server.cc for a rule the table cannot say); a row below.
// docs/architecture.md, "The frame table", walks through a seq'd server frame
// end to end.
#include <type_traits>

#include "core/protocol/frame_codec.h"

namespace chatwire::protocol::internal {

namespace {

// The position of T among a variant's alternatives.
template <class T, class V>
struct alternative_index;
template <class T, class... Ts>
struct alternative_index<T, std::variant<Ts...>> {
  static constexpr size_t value = [] {
    size_t i = 0;
    (void)((std::is_same_v<T, Ts> ? false : (++i, true)) && ...);
    return i;
  }();
};

template <class Frame, class T, auto Read>
Result<Frame> read_as(Fields& f, const Limits& limits) {
  Result<T> r = Read(f, limits);
  if (!r) return std::move(r.error());
  return Frame{std::move(*r)};
}

template <class Frame, class T, auto Write>
void write_as(Writer& w, const Frame& frame) {
  Write(w, std::get<T>(frame));
}

template <class T, auto Seq>
std::optional<int64_t> get_seq(const ServerFrame& frame) {
  if constexpr (std::is_null_pointer_v<decltype(Seq)>) {
    return std::nullopt;
  } else {
    return std::get<T>(frame).*Seq;
  }
}

template <class T, auto Seq>
void put_seq(ServerFrame& frame, int64_t seq) {
  if constexpr (!std::is_null_pointer_v<decltype(Seq)>) std::get<T>(frame).*Seq = seq;
}

// The value of a `ref` / `reply_to` accessor: a std::string member, or a
// function for ids held deeper (the error's messageId).
template <class T, auto Field>
std::string id_of(const T& frame) {
  if constexpr (std::is_null_pointer_v<decltype(Field)>) {
    return "";
  } else if constexpr (std::is_member_object_pointer_v<decltype(Field)>) {
    return frame.*Field;
  } else {
    return Field(frame);
  }
}

template <class T, auto Ref, auto ReplyTo>
FrameRefs refs(const ServerFrame& frame) {
  const T& f = std::get<T>(frame);
  return FrameRefs{id_of<T, Ref>(f), id_of<T, ReplyTo>(f)};
}

// A client row: the frame's field table, and its reader when that is more
// than the table's (message).
template <const auto& Table, auto Read = &read_table<Table>>
constexpr ClientRow client(const char* type, const char* fields) {
  using T = typename std::decay_t<decltype(Table)>::Struct;
  return ClientRow{FrameInfo{Direction::client_to_server, type, fields},
                   alternative_index<T, ClientFrame>::value, Table.names_are(fields), &read_as<ClientFrame, T, Read>,
                   &write_as<ClientFrame, T, &write_table<Table, T>>};
}

// A server row: the frame's field table. `Seq`: the member holding seq
// (nullptr: none); `Ref` / `ReplyTo`: the members (or accessor functions) of
// the ids named by info.ref / info.reply_to.
template <const auto& Table, auto Seq = nullptr, auto Ref = nullptr, auto ReplyTo = nullptr>
constexpr ServerRow server(FrameInfo info) {
  using T = typename std::decay_t<decltype(Table)>::Struct;
  return ServerRow{info,
                   alternative_index<T, ServerFrame>::value,
                   Table.names_are(info.fields),
                   &read_as<ServerFrame, T, &read_table<Table>>,
                   &write_as<ServerFrame, T, &write_table<Table, T>>,
                   &get_seq<T, Seq>,
                   &internal::put_seq<T, Seq>,
                   &refs<T, Ref, ReplyTo>};
}

std::string error_message_id(const ErrorEvent& e) { return e.error.message_id; }

constexpr auto kToClient = Direction::server_to_client;
constexpr bool kStored = true;    // in the event log, replayed on resume
constexpr bool kLive = false;     // sent once, never stored
constexpr bool kBroadcast = true; // ServerHub::broadcast may send it
constexpr bool kNoBroadcast = false;

// ---------------------------------------------------------------- client -> server

constexpr ClientRow kClientRows[] = {
    client<kConnectFields>("connect", "clientId timestamp conversationId lastSeq conversations"),
    client<kPingFields>("ping", "clientId timestamp"),
    client<kMessageFields, read_message>("message",
                                         "messageId clientId timestamp content images conversationId metadata parentId"),
    client<kTypingFields>("typing", "clientId isTyping timestamp"),
    client<kLoadMessagesFields>("load_messages", "conversationId beforeSeq limit"),
    client<kConfigureToolsFields>("configure_tools", "tools"),
    client<kToolResultFields>("tool_result", "toolCallId result error"),
    client<kComponentActionFields>("component_action", "componentId action values timestamp"),
    client<kCancelFields>("cancel", "replyTo timestamp"),
    client<kDisconnectFields>("disconnect", "clientId timestamp"),
    client<kListConversationsFields>("list_conversations", "limit before"),
    client<kUpdateConversationFields>("update_conversation", "conversationId title archived metadata"),
    client<kDeleteConversationFields>("delete_conversation", "conversationId"),
};

// ---------------------------------------------------------------- server -> client
//
//                type               fields (wire order)                 seq                  stored    broadcast      ref           replyTo

constexpr ServerRow kServerRows[] = {
    server<kConnectConfirmFields>(
        {kToClient, "connect_confirm", "conversationId connectionId resumed recovered heartbeatMs timestamp conversations",
         SeqRule::none, kLive, kNoBroadcast}),
    server<kPongFields>(
        {kToClient, "pong", "timestamp", SeqRule::none, kLive, kNoBroadcast}),
    server<kConfirmFields, &Confirm::seq, &Confirm::message_id>(
        {kToClient, "confirm", "messageId imageId status seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "messageId", ""}),
    server<kThinkingFields, &Thinking::seq, nullptr, &Thinking::reply_to>(
        {kToClient, "thinking", "replyTo step seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "", "replyTo"}),
    server<kDeltaFields>(
        {kToClient, "delta", "messageId replyTo index delta timestamp conversationId",
         SeqRule::none, kLive, kBroadcast}),
    server<kResponseFields, &Response::seq, &Response::message_id, &Response::reply_to>(
        {kToClient, "response", "messageId replyTo content seq timestamp imageAnalysis citations cancelled conversationId version metadata",
         SeqRule::always, kStored, kBroadcast, "messageId", "replyTo"}),
    server<kToolCallFields, &ToolCall::seq, &ToolCall::tool_call_id, &ToolCall::reply_to>(
        {kToClient, "tool_call", "toolCallId replyTo name arguments seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "toolCallId", "replyTo"}),
    server<kComponentFields, &Component::seq, &Component::component_id, &Component::reply_to>(
        {kToClient, "component", "componentId replyTo component props seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "componentId", "replyTo"}),
    server<kTypingIndicatorFields>(
        {kToClient, "typing", "isTyping timestamp conversationId", SeqRule::none, kLive, kBroadcast}),
    server<kHistoryFields>(
        {kToClient, "history", "conversationId messages hasMore", SeqRule::none, kLive, kNoBroadcast}),
    server<kErrorEventFields, &ErrorEvent::seq, error_message_id>(
        {kToClient, "error", "code error messageId imageId retryAfterMs seq timestamp conversationId",
         SeqRule::when_stored, kStored, kBroadcast, "messageId", ""}),
    server<kConversationsFields>(
        {kToClient, "conversations", "items hasMore cursor", SeqRule::none, kLive, kNoBroadcast}),
    server<kConversationUpdatedFields, &ConversationUpdated::seq>(
        {kToClient, "conversation", "conversationId title archived metadata updatedAt seq timestamp",
         SeqRule::always, kStored, kNoBroadcast, "", ""}),
    server<kConversationDeletedFields>(
        {kToClient, "conversation_deleted", "conversationId timestamp", SeqRule::none, kLive, kNoBroadcast}),
};

template <class Row, size_t N>
constexpr bool in_variant_order(const Row (&rows)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (rows[i].index != i) return false;
  }
  return true;
}

template <class Row, size_t N>
constexpr bool fields_match_tables(const Row (&rows)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (!rows[i].fields_match_table) return false;
  }
  return true;
}

template <class Row, size_t N>
constexpr bool seq_rules_consistent(const Row (&rows)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (rows[i].info.stored != (rows[i].info.seq != SeqRule::none)) return false;
  }
  return true;
}

static_assert(std::size(kClientRows) == std::variant_size_v<ClientFrame>, "one row per ClientFrame alternative");
static_assert(std::size(kServerRows) == std::variant_size_v<ServerFrame>, "one row per ServerFrame alternative");
static_assert(in_variant_order(kClientRows), "client rows follow the ClientFrame alternatives");
static_assert(in_variant_order(kServerRows), "server rows follow the ServerFrame alternatives");
static_assert(fields_match_tables(kClientRows), "a client row's fields are its field table's, in order");
static_assert(fields_match_tables(kServerRows), "a server row's fields are its field table's, in order");
static_assert(seq_rules_consistent(kServerRows), "a server frame is stored exactly when it carries a seq");

template <class Row, size_t N>
const Row* find_row(const Row (&rows)[N], std::string_view type) {
  for (const Row& r : rows) {
    if (type == r.info.type) return &r;
  }
  return nullptr;
}

}  // namespace

const ClientRow* client_row(std::string_view type) { return find_row(kClientRows, type); }
const ServerRow* server_row(std::string_view type) { return find_row(kServerRows, type); }
const ClientRow& client_row(const ClientFrame& frame) { return kClientRows[frame.index()]; }
const ServerRow& server_row(const ServerFrame& frame) { return kServerRows[frame.index()]; }

}  // namespace chatwire::protocol::internal

namespace chatwire::protocol {

using internal::client_row;
using internal::server_row;

const FrameInfo* client_frame_info(std::string_view type) {
  const auto* row = client_row(type);
  return row ? &row->info : nullptr;
}

const FrameInfo* server_frame_info(std::string_view type) {
  const auto* row = server_row(type);
  return row ? &row->info : nullptr;
}

const FrameInfo& frame_info(const ClientFrame& frame) { return client_row(frame).info; }
const FrameInfo& frame_info(const ServerFrame& frame) { return server_row(frame).info; }

size_t frame_count(Direction direction) {
  return direction == Direction::client_to_server ? std::variant_size_v<ClientFrame>
                                                  : std::variant_size_v<ServerFrame>;
}

const FrameInfo& frame_info_at(Direction direction, size_t index) {
  return direction == Direction::client_to_server ? internal::kClientRows[index].info
                                                  : internal::kServerRows[index].info;
}

const char* type_name(const ClientFrame& frame) { return frame_info(frame).type; }
const char* type_name(const ServerFrame& frame) { return frame_info(frame).type; }

std::optional<int64_t> seq_of(const ServerFrame& frame) { return server_row(frame).get_seq(frame); }
void set_seq(ServerFrame& frame, int64_t seq) { server_row(frame).put_seq(frame, seq); }
FrameRefs refs_of(const ServerFrame& frame) { return server_row(frame).refs(frame); }

}  // namespace chatwire::protocol
