// Internal to src/core/protocol/: the reader and writer of each frame type
// (frames_client.cc, frames_server.cc) and the table rows that hold them
// (frames.cc). A reader reads one frame's fields (not `type`) and validates
// them completely; a writer writes its fields after `type` (which the codec
// writes from the row), in the row's field order.
#ifndef CHATWIRE_CORE_PROTOCOL_FRAME_CODEC_H_
#define CHATWIRE_CORE_PROTOCOL_FRAME_CODEC_H_

#include <optional>
#include <string_view>

#include "core/protocol/frames.h"
#include "core/protocol/json_fields.h"

namespace chatwire::protocol::internal {

// ---------------------------------------------------------------- client -> server
Result<Connect> read_connect(Fields& f, const Limits& limits);
Result<Ping> read_ping(Fields& f, const Limits& limits);
Result<Message> read_message(Fields& f, const Limits& limits);
Result<Typing> read_typing(Fields& f, const Limits& limits);
Result<LoadMessages> read_load_messages(Fields& f, const Limits& limits);
Result<ConfigureTools> read_configure_tools(Fields& f, const Limits& limits);
Result<ToolResult> read_tool_result(Fields& f, const Limits& limits);
Result<ComponentAction> read_component_action(Fields& f, const Limits& limits);
Result<Cancel> read_cancel(Fields& f, const Limits& limits);
Result<Disconnect> read_disconnect(Fields& f, const Limits& limits);
Result<ListConversations> read_list_conversations(Fields& f, const Limits& limits);
Result<UpdateConversation> read_update_conversation(Fields& f, const Limits& limits);
Result<DeleteConversation> read_delete_conversation(Fields& f, const Limits& limits);

void write_connect(Writer& w, const Connect& c);
void write_ping(Writer& w, const Ping& p);
void write_message(Writer& w, const Message& m);
void write_typing(Writer& w, const Typing& t);
void write_load_messages(Writer& w, const LoadMessages& l);
void write_configure_tools(Writer& w, const ConfigureTools& c);
void write_tool_result(Writer& w, const ToolResult& r);
void write_component_action(Writer& w, const ComponentAction& a);
void write_cancel(Writer& w, const Cancel& c);
void write_disconnect(Writer& w, const Disconnect& d);
void write_list_conversations(Writer& w, const ListConversations& l);
void write_update_conversation(Writer& w, const UpdateConversation& u);
void write_delete_conversation(Writer& w, const DeleteConversation& d);

// ---------------------------------------------------------------- server -> client
Result<ConnectConfirm> read_connect_confirm(Fields& f, const Limits& limits);
Result<Pong> read_pong(Fields& f, const Limits& limits);
Result<Confirm> read_confirm(Fields& f, const Limits& limits);
Result<Thinking> read_thinking(Fields& f, const Limits& limits);
Result<Delta> read_delta(Fields& f, const Limits& limits);
Result<Response> read_response(Fields& f, const Limits& limits);
Result<ToolCall> read_tool_call(Fields& f, const Limits& limits);
Result<Component> read_component(Fields& f, const Limits& limits);
Result<TypingIndicator> read_typing_indicator(Fields& f, const Limits& limits);
Result<History> read_history(Fields& f, const Limits& limits);
Result<ErrorEvent> read_error_event(Fields& f, const Limits& limits);
Result<Conversations> read_conversations(Fields& f, const Limits& limits);
Result<ConversationUpdated> read_conversation_updated(Fields& f, const Limits& limits);
Result<ConversationDeleted> read_conversation_deleted(Fields& f, const Limits& limits);

void write_connect_confirm(Writer& w, const ConnectConfirm& c);
void write_pong(Writer& w, const Pong& p);
void write_confirm(Writer& w, const Confirm& c);
void write_thinking(Writer& w, const Thinking& t);
void write_delta(Writer& w, const Delta& d);
void write_response(Writer& w, const Response& r);
void write_tool_call(Writer& w, const ToolCall& t);
void write_component(Writer& w, const Component& c);
void write_typing_indicator(Writer& w, const TypingIndicator& t);
void write_history(Writer& w, const History& h);
void write_error_event(Writer& w, const ErrorEvent& e);
void write_conversations(Writer& w, const Conversations& c);
void write_conversation_updated(Writer& w, const ConversationUpdated& c);
void write_conversation_deleted(Writer& w, const ConversationDeleted& d);

// ---------------------------------------------------------------- rows

struct ClientRow {
  FrameInfo info;
  size_t index;  // its ClientFrame alternative
  Result<ClientFrame> (*read)(Fields&, const Limits&);
  void (*write)(Writer&, const ClientFrame&);
};

struct ServerRow {
  FrameInfo info;
  size_t index;  // its ServerFrame alternative
  Result<ServerFrame> (*read)(Fields&, const Limits&);
  void (*write)(Writer&, const ServerFrame&);
  std::optional<int64_t> (*get_seq)(const ServerFrame&);
  void (*put_seq)(ServerFrame&, int64_t);
  FrameRefs (*refs)(const ServerFrame&);
};

const ClientRow* client_row(std::string_view type);
const ServerRow* server_row(std::string_view type);
const ClientRow& client_row(const ClientFrame& frame);
const ServerRow& server_row(const ServerFrame& frame);

}  // namespace chatwire::protocol::internal

#endif  // CHATWIRE_CORE_PROTOCOL_FRAME_CODEC_H_
