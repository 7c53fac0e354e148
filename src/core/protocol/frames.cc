// The frame table (frames.h): every frame type of PROTOCOL.md, one row each,
// in the order of the ClientFrame / ServerFrame alternatives (checked at
// compile time below).
//
// A row names the frame's struct, its reader and writer (frame_codec.h), and
// for server frames the struct members that hold `seq` and the ids the store
// indexes it by. Everything the codec, the hub and the client ask about a
// frame type is read from here.
//
// Adding a frame type: its struct in messages.h and the variant; its reader
// and writer in frames_client.cc / frames_server.cc (declared in
// frame_codec.h); a row below. docs/architecture.md, "The frame table", walks
// through a seq'd server frame end to end.
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
    ((std::is_same_v<T, Ts> ? false : (++i, true)) && ...);
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

template <class T, auto Read, auto Write>
constexpr ClientRow client(const char* type, const char* fields) {
  return ClientRow{FrameInfo{Direction::client_to_server, type, fields},
                   alternative_index<T, ClientFrame>::value, &read_as<ClientFrame, T, Read>,
                   &write_as<ClientFrame, T, Write>};
}

// A server row. `Seq`: the member holding seq (nullptr: none); `Ref` /
// `ReplyTo`: the members (or accessor functions) of the ids named by
// info.ref / info.reply_to.
template <class T, auto Read, auto Write, auto Seq = nullptr, auto Ref = nullptr, auto ReplyTo = nullptr>
constexpr ServerRow server(FrameInfo info) {

  return ServerRow{info,
                   alternative_index<T, ServerFrame>::value,
                   &read_as<ServerFrame, T, Read>,
                   &write_as<ServerFrame, T, Write>,
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
    client<Connect, read_connect, write_connect>("connect", "clientId timestamp conversationId lastSeq conversations"),
    client<Ping, read_ping, write_ping>("ping", "clientId timestamp"),
    client<Message, read_message, write_message>("message", "messageId clientId timestamp content images conversationId metadata parentId"),
    client<Typing, read_typing, write_typing>("typing", "clientId isTyping timestamp"),
    client<LoadMessages, read_load_messages, write_load_messages>("load_messages",
                                                                  "conversationId beforeSeq limit"),
    client<ConfigureTools, read_configure_tools, write_configure_tools>("configure_tools", "tools"),
    client<ToolResult, read_tool_result, write_tool_result>("tool_result", "toolCallId result error"),
    client<ComponentAction, read_component_action, write_component_action>(
        "component_action", "componentId action values timestamp"),
    client<Cancel, read_cancel, write_cancel>("cancel", "replyTo timestamp"),
    client<Disconnect, read_disconnect, write_disconnect>("disconnect", "clientId timestamp"),
    client<ListConversations, read_list_conversations, write_list_conversations>("list_conversations",
                                                                                 "limit before"),
    client<UpdateConversation, read_update_conversation, write_update_conversation>(
        "update_conversation", "conversationId title archived metadata"),
    client<DeleteConversation, read_delete_conversation, write_delete_conversation>("delete_conversation",
                                                                                    "conversationId"),
};

// ---------------------------------------------------------------- server -> client
//
//                type               fields (wire order)                 seq                  stored    broadcast      ref           replyTo

constexpr ServerRow kServerRows[] = {
    server<ConnectConfirm, read_connect_confirm, write_connect_confirm>(
        {kToClient, "connect_confirm", "conversationId connectionId resumed recovered heartbeatMs timestamp conversations",
         SeqRule::none, kLive, kNoBroadcast}),
    server<Pong, read_pong, write_pong>(
        {kToClient, "pong", "timestamp", SeqRule::none, kLive, kNoBroadcast}),
    server<Confirm, read_confirm, write_confirm, &Confirm::seq, &Confirm::message_id>(
        {kToClient, "confirm", "messageId imageId status seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "messageId", ""}),
    server<Thinking, read_thinking, write_thinking, &Thinking::seq, nullptr, &Thinking::reply_to>(
        {kToClient, "thinking", "replyTo step seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "", "replyTo"}),
    server<Delta, read_delta, write_delta>(
        {kToClient, "delta", "messageId replyTo index delta timestamp conversationId",
         SeqRule::none, kLive, kBroadcast}),
    server<Response, read_response, write_response, &Response::seq, &Response::message_id, &Response::reply_to>(
        {kToClient, "response", "messageId replyTo content seq timestamp imageAnalysis citations cancelled conversationId version metadata",
         SeqRule::always, kStored, kBroadcast, "messageId", "replyTo"}),
    server<ToolCall, read_tool_call, write_tool_call, &ToolCall::seq, &ToolCall::tool_call_id, &ToolCall::reply_to>(
        {kToClient, "tool_call", "toolCallId replyTo name arguments seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "toolCallId", "replyTo"}),
    server<Component, read_component, write_component, &Component::seq, &Component::component_id,
           &Component::reply_to>(
        {kToClient, "component", "componentId replyTo component props seq timestamp conversationId",
         SeqRule::always, kStored, kBroadcast, "componentId", "replyTo"}),
    server<TypingIndicator, read_typing_indicator, write_typing_indicator>(
        {kToClient, "typing", "isTyping timestamp conversationId", SeqRule::none, kLive, kBroadcast}),
    server<History, read_history, write_history>(
        {kToClient, "history", "conversationId messages hasMore", SeqRule::none, kLive, kNoBroadcast}),
    server<ErrorEvent, read_error_event, write_error_event, &ErrorEvent::seq, error_message_id>(
        {kToClient, "error", "code error messageId imageId retryAfterMs seq timestamp conversationId",
         SeqRule::when_stored, kStored, kBroadcast, "messageId", ""}),
    server<Conversations, read_conversations, write_conversations>(
        {kToClient, "conversations", "items hasMore cursor", SeqRule::none, kLive, kNoBroadcast}),
    server<ConversationUpdated, read_conversation_updated, write_conversation_updated, &ConversationUpdated::seq>(
        {kToClient, "conversation", "conversationId title archived metadata updatedAt seq timestamp",
         SeqRule::always, kStored, kNoBroadcast, "", ""}),
    server<ConversationDeleted, read_conversation_deleted, write_conversation_deleted>(
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
