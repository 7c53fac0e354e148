// Internal to src/core/protocol/: the fields of each frame type (and of the
// sub-objects frames carry) as field tables (field_table.h), and the table
// rows that hold each frame's reader and writer (frames.cc). A frame's reader
// reads its fields (not `type`) in the table's order and validates them
// completely; its writer writes them after `type` (which the codec writes
// from the row) in the same order, which is the row's field order.
//
// What a table cannot say is a named function next to it: the checks of a
// message's images, of configure_tools and of update_conversation's title
// (frames_client.cc), the error object's fields (frames_server.cc).
#ifndef CHATWIRE_CORE_PROTOCOL_FRAME_CODEC_H_
#define CHATWIRE_CORE_PROTOCOL_FRAME_CODEC_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/protocol/field_table.h"
#include "core/protocol/frames.h"

namespace chatwire::protocol::internal {

constexpr size_t kMaxToolNameBytes = 128;
constexpr size_t kMaxFilenameBytes = 1024;

// ---------------------------------------------------------------- client -> server

// One entry of a message's `images`: id, mimeType, filename, then the base64
// `data` decoded and checked (image.h); errors name the image by position and
// id and carry the id. Written with its bytes base64-encoded.
void read_image(Fields& g, Image& img, size_t index, const Limits& limits);
void write_image(Writer& w, const Image& img);
// A message's size rules (content bytes, image count, not empty), checked
// before any image is decoded.
void check_message_size(Fields& f, const Message& m, const Limits& limits);
inline bool has_images(const Message& m) { return !m.images.empty(); }
// configure_tools: the tool count and encoded size, counted before anything
// is copied.
void check_tools_size(Fields& f, const ConfigureTools& c, const Limits& limits);
// tool_result: exactly one of result / error.
void check_tool_result(Fields& f, const ToolResult& r, const Limits& limits);
// update_conversation: the title's length in characters (title_error).
void check_title(Fields& f, const UpdateConversation& u, const Limits& limits);

inline constexpr auto kResumeConversationFields = fields<ResumeConversation>(
    id("conversationId", &ResumeConversation::conversation_id),
    integer_or("lastSeq", &ResumeConversation::last_seq, 0, INT64_MAX, 0));

inline constexpr auto kConnectFields = fields<Connect>(
    id("clientId", &Connect::client_id), timestamp(&Connect::timestamp),
    id("conversationId", &Connect::conversation_id), integer("lastSeq", &Connect::last_seq, 0, INT64_MAX),
    list<kResumeConversationFields>("conversations", &Connect::conversations).at_most(kMaxResumeConversations));

inline constexpr auto kPingFields = fields<Ping>(id("clientId", &Ping::client_id), timestamp(&Ping::timestamp));

inline constexpr auto kMessageFields = fields<Message>(
    id("messageId", &Message::message_id), id("clientId", &Message::client_id), timestamp(&Message::timestamp),
    text("content", &Message::content), check(check_message_size),
    list_of("images", &Message::images, false, read_image, write_image)
        .unique_by("id", &Image::id)
        .written_when(has_images),
    id("conversationId", &Message::conversation_id), metadata("metadata", &Message::metadata),
    nullable_id("parentId", &Message::parent_id));
// A message's reader: the table's, its errors carrying the messageId once
// that was readable.
Result<Message> read_message(Fields& f, const Limits& limits);

inline constexpr auto kTypingFields = fields<Typing>(
    id("clientId", &Typing::client_id), flag("isTyping", &Typing::is_typing), timestamp(&Typing::timestamp));

inline constexpr auto kLoadMessagesFields = fields<LoadMessages>(
    id("conversationId", &LoadMessages::conversation_id),
    integer("beforeSeq", &LoadMessages::before_seq, 0, INT64_MAX),
    integer_or("limit", &LoadMessages::limit, 1, 200, 50));

inline constexpr auto kToolSpecFields = fields<ToolSpec>(
    text("name", &ToolSpec::name, true, kMaxToolNameBytes), text_or_empty("description", &ToolSpec::description),
    raw("parameters", &ToolSpec::parameters, "{\"type\":\"object\"}"));

inline constexpr auto kConfigureToolsFields = fields<ConfigureTools>(
    check(check_tools_size),
    list<kToolSpecFields>("tools", &ConfigureTools::tools, true).unique_by("name", &ToolSpec::name));

inline constexpr auto kToolResultFields = fields<ToolResult>(
    id("toolCallId", &ToolResult::tool_call_id), raw("result", &ToolResult::result),
    text("error", &ToolResult::error), check(check_tool_result));

inline constexpr auto kComponentActionFields = fields<ComponentAction>(
    id("componentId", &ComponentAction::component_id), text("action", &ComponentAction::action, true),
    raw("values", &ComponentAction::values, "{}"), timestamp(&ComponentAction::timestamp));

inline constexpr auto kCancelFields = fields<Cancel>(id("replyTo", &Cancel::reply_to), timestamp(&Cancel::timestamp));

inline constexpr auto kDisconnectFields =
    fields<Disconnect>(id("clientId", &Disconnect::client_id), timestamp(&Disconnect::timestamp));

inline constexpr auto kListConversationsFields = fields<ListConversations>(
    integer_or("limit", &ListConversations::limit, 1, 100, 20),
    text("before", &ListConversations::before, false, kMaxIdBytes * 2));

inline constexpr auto kUpdateConversationFields = fields<UpdateConversation>(
    id("conversationId", &UpdateConversation::conversation_id), text("title", &UpdateConversation::title),
    check(check_title), optional_flag("archived", &UpdateConversation::archived),
    metadata("metadata", &UpdateConversation::metadata));

inline constexpr auto kDeleteConversationFields =
    fields<DeleteConversation>(id("conversationId", &DeleteConversation::conversation_id));

// ---------------------------------------------------------------- server -> client

// The sub-objects that frames, client events and the client store all carry.
inline constexpr auto kAnalysisFields = fields<ImageAnalysis>(
    id("imageId", &ImageAnalysis::image_id), text_or_empty("description", &ImageAnalysis::description),
    text_or_empty("category", &ImageAnalysis::category), text_or_empty("condition", &ImageAnalysis::condition),
    strings("features", &ImageAnalysis::features), strings("recommendations", &ImageAnalysis::recommendations));

inline constexpr auto kCitationFields = fields<Citation>(
    text_or_empty("documentId", &Citation::document_id), text_or_empty("chunkId", &Citation::chunk_id),
    text_or_empty("filename", &Citation::filename), integer("pageStart", &Citation::page_start, INT64_MIN, INT64_MAX),
    integer("pageEnd", &Citation::page_end, INT64_MIN, INT64_MAX), number("score", &Citation::score));

// An image confirm has both imageId and status.
void check_image_confirm(Fields& f, const Confirm& c, const Limits& limits);
// The error object's fields (code, error, messageId, imageId, retryAfterMs),
// written by put_error_fields like every other error object.
void read_error_fields(Fields& f, ErrorEvent& e, const Limits& limits);
void write_error_fields(Writer& w, const ErrorEvent& e);
inline bool is_user(const HistoryEntry& e) { return e.role == "user"; }

inline constexpr auto kResumedConversationFields = fields<ResumedConversation>(
    id("conversationId", &ResumedConversation::conversation_id), flag("resumed", &ResumedConversation::resumed),
    flag_or("recovered", &ResumedConversation::recovered, true));

inline constexpr auto kConnectConfirmFields = fields<ConnectConfirm>(
    id("conversationId", &ConnectConfirm::conversation_id), id("connectionId", &ConnectConfirm::connection_id),
    flag("resumed", &ConnectConfirm::resumed), flag_or("recovered", &ConnectConfirm::recovered, true),
    integer_or("heartbeatMs", &ConnectConfirm::heartbeat_ms, 1, INT64_MAX, 10000),
    timestamp(&ConnectConfirm::timestamp),
    list<kResumedConversationFields>("conversations", &ConnectConfirm::conversations));

inline constexpr auto kPongFields = fields<Pong>(timestamp(&Pong::timestamp));

inline constexpr auto kConfirmFields = fields<Confirm>(
    id("messageId", &Confirm::message_id), id("imageId", &Confirm::image_id),
    one_of("status", &Confirm::status, "received processing analyzed"), check(check_image_confirm),
    seq(&Confirm::seq), timestamp(&Confirm::timestamp), id("conversationId", &Confirm::conversation_id));

inline constexpr auto kThinkingFields = fields<Thinking>(
    id("replyTo", &Thinking::reply_to), text("step", &Thinking::step), seq(&Thinking::seq),
    timestamp(&Thinking::timestamp), id("conversationId", &Thinking::conversation_id));

inline constexpr auto kDeltaFields = fields<Delta>(
    id("messageId", &Delta::message_id), id("replyTo", &Delta::reply_to),
    integer("index", &Delta::index, 0, INT64_MAX), text("delta", &Delta::delta), timestamp(&Delta::timestamp),
    id("conversationId", &Delta::conversation_id));

inline constexpr auto kResponseFields = fields<Response>(
    id("messageId", &Response::message_id), id("replyTo", &Response::reply_to), text("content", &Response::content),
    seq(&Response::seq), timestamp(&Response::timestamp),
    list<kAnalysisFields>("imageAnalysis", &Response::image_analysis),
    list<kCitationFields>("citations", &Response::citations), flag_when_true("cancelled", &Response::cancelled),
    id("conversationId", &Response::conversation_id), integer("version", &Response::version, 1, INT64_MAX),
    metadata("metadata", &Response::metadata));

inline constexpr auto kToolCallFields = fields<ToolCall>(
    id("toolCallId", &ToolCall::tool_call_id), id("replyTo", &ToolCall::reply_to),
    text("name", &ToolCall::name, true), raw("arguments", &ToolCall::arguments, "{}"), seq(&ToolCall::seq),
    timestamp(&ToolCall::timestamp), id("conversationId", &ToolCall::conversation_id));

inline constexpr auto kComponentFields = fields<Component>(
    id("componentId", &Component::component_id), id("replyTo", &Component::reply_to),
    text("component", &Component::component, true), raw("props", &Component::props, "{}"), seq(&Component::seq),
    timestamp(&Component::timestamp), id("conversationId", &Component::conversation_id));

inline constexpr auto kTypingIndicatorFields = fields<TypingIndicator>(
    flag("isTyping", &TypingIndicator::is_typing), timestamp(&TypingIndicator::timestamp),
    id("conversationId", &TypingIndicator::conversation_id));

inline constexpr auto kHistoryImageFields = fields<HistoryImage>(
    id("id", &HistoryImage::id), text("mimeType", &HistoryImage::mime_type, true),
    text("filename", &HistoryImage::filename));

inline constexpr auto kHistoryEntryFields = fields<HistoryEntry>(
    integer("seq", &HistoryEntry::seq, 1, INT64_MAX), one_of("role", &HistoryEntry::role, "user assistant"),
    id("messageId", &HistoryEntry::message_id), id("replyTo", &HistoryEntry::reply_to),
    text_or_empty("content", &HistoryEntry::content), timestamp(&HistoryEntry::timestamp),
    list<kHistoryImageFields>("images", &HistoryEntry::images).written_when(is_user),
    list<kAnalysisFields>("imageAnalysis", &HistoryEntry::image_analysis),
    list<kCitationFields>("citations", &HistoryEntry::citations),
    flag_when_true("cancelled", &HistoryEntry::cancelled), flag_when_true("truncated", &HistoryEntry::truncated),
    nullable_id("parentId", &HistoryEntry::parent_id), integer("version", &HistoryEntry::version, 1, INT64_MAX),
    metadata("metadata", &HistoryEntry::metadata));

inline constexpr auto kHistoryFields = fields<History>(
    id("conversationId", &History::conversation_id),
    list<kHistoryEntryFields>("messages", &History::messages, true), flag_or("hasMore", &History::has_more, false));

inline constexpr auto kErrorEventFields = fields<ErrorEvent>(
    custom(read_error_fields, write_error_fields, "code error messageId imageId retryAfterMs"), seq(&ErrorEvent::seq),
    timestamp(&ErrorEvent::timestamp), id("conversationId", &ErrorEvent::conversation_id));

inline constexpr auto kLastMessageFields = fields<ConversationLastMessage>(
    text("role", &ConversationLastMessage::role, true), text("content", &ConversationLastMessage::content),
    timestamp(&ConversationLastMessage::timestamp));

inline constexpr auto kConversationItemFields = fields<ConversationItem>(
    id("conversationId", &ConversationItem::conversation_id), text("title", &ConversationItem::title),
    timestamp_at("createdAt", &ConversationItem::created_at), timestamp_at("updatedAt", &ConversationItem::updated_at),
    flag_or("archived", &ConversationItem::archived, false), metadata("metadata", &ConversationItem::metadata),
    object<kLastMessageFields>("lastMessage", &ConversationItem::last_message));

inline constexpr auto kConversationsFields = fields<Conversations>(
    list<kConversationItemFields>("items", &Conversations::items, true),
    flag_or("hasMore", &Conversations::has_more, false), text("cursor", &Conversations::cursor));

inline constexpr auto kConversationUpdatedFields = fields<ConversationUpdated>(
    id("conversationId", &ConversationUpdated::conversation_id), text("title", &ConversationUpdated::title),
    flag_or("archived", &ConversationUpdated::archived, false), metadata("metadata", &ConversationUpdated::metadata),
    timestamp_at("updatedAt", &ConversationUpdated::updated_at), seq(&ConversationUpdated::seq),
    timestamp(&ConversationUpdated::timestamp));

inline constexpr auto kConversationDeletedFields = fields<ConversationDeleted>(
    id("conversationId", &ConversationDeleted::conversation_id), timestamp(&ConversationDeleted::timestamp));

// ---------------------------------------------------------------- rows

struct ClientRow {
  FrameInfo info;
  size_t index;             // its ClientFrame alternative
  bool fields_match_table;  // info.fields names the field table's fields (checked in frames.cc)
  Result<ClientFrame> (*read)(Fields&, const Limits&);
  void (*write)(Writer&, const ClientFrame&);
};

struct ServerRow {
  FrameInfo info;
  size_t index;             // its ServerFrame alternative
  bool fields_match_table;  // as ClientRow's
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
