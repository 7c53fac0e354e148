// The JSON of the client's message records (message_record.h): one field
// table per record part, from which the `message` event's JSON, the client
// store's `detail` column and its reading back are all derived.
#include "core/protocol/message_record.h"

#include "core/protocol/field_table.h"

namespace chatwire::protocol {

namespace {

using namespace internal;  // the field-table entries read like the tables in frame_codec.h

// `error`: {"code","message"}, when the message failed because of an error.
void read_record_error(Fields& f, StoredMessage& m, const Limits&) {
  const Value* e = f.find("error");
  if (!e || !e->IsObject()) return;
  Fields g(*e, "error.");
  m.error_code = g.string("code", false, false).value_or("");
  m.error_message = g.string("message", false, false).value_or("");
}

void write_record_error(Writer& w, const StoredMessage& m) {
  if (!m.error_code) return;
  w.Key("error");
  w.StartObject();
  put(w, "code", *m.error_code);
  put(w, "message", m.error_message.value_or(""));
  w.EndObject();
}

constexpr auto kRecordError = custom(read_record_error, write_record_error, "error");

constexpr auto kImageFields = fields<StoredImage>(
    text_or_empty("id", &StoredImage::id), text_or_empty("mimeType", &StoredImage::mime_type),
    text("filename", &StoredImage::filename), integer_or("width", &StoredImage::width, 0, UINT32_MAX, 0),
    integer_or("height", &StoredImage::height, 0, UINT32_MAX, 0), text_unless_empty("status", &StoredImage::status),
    json_text("analysis", &StoredImage::analysis_json));

constexpr auto kToolCallFields = fields<StoredToolCall>(
    text_or_empty("toolCallId", &StoredToolCall::tool_call_id), text_or_empty("name", &StoredToolCall::name),
    json_text("arguments", &StoredToolCall::arguments_json, "{}"), text_or_empty("status", &StoredToolCall::status),
    json_text("result", &StoredToolCall::result_json), text("error", &StoredToolCall::error));

constexpr auto kComponentFields = fields<StoredComponent>(
    text_or_empty("componentId", &StoredComponent::component_id),
    text_or_empty("component", &StoredComponent::component),
    json_text("props", &StoredComponent::props_json, "{}"));

constexpr auto kImages = list<kImageFields>("images", &StoredMessage::images);
constexpr auto kThinking = strings("thinking", &StoredMessage::thinking);
constexpr auto kToolCalls = list<kToolCallFields>("toolCalls", &StoredMessage::tool_calls);
constexpr auto kComponents = list<kComponentFields>("components", &StoredMessage::components);
constexpr auto kCitations = json_text("citations", &StoredMessage::citations_json, "[]");
constexpr auto kImageAnalysis = json_text("imageAnalysis", &StoredMessage::image_analysis_json, "[]");
constexpr auto kId = text_or_empty("id", &StoredMessage::id);
constexpr auto kRole = text_or_empty("role", &StoredMessage::role);
constexpr auto kContent = text_or_empty("content", &StoredMessage::content);
constexpr auto kCreatedAt = text_or_empty("createdAt", &StoredMessage::created_at);
constexpr auto kStatus = text_or_empty("status", &StoredMessage::status);

// DESIGN.md's UserMessage and AssistantMessage.
constexpr auto kUserMessage = fields<StoredMessage>(kId, kRole, kContent, kCreatedAt, kStatus, kRecordError, kImages);
constexpr auto kAssistantMessage =
    fields<StoredMessage>(kId, kRole, text_or_empty("replyTo", &StoredMessage::reply_to), kCreatedAt, kStatus,
                          kContent, kThinking, kToolCalls, kComponents, kCitations, kImageAnalysis);

// The `detail` column of each role.
constexpr auto kUserDetail = fields<StoredMessage>(kImages, kRecordError);
constexpr auto kAssistantDetail =
    fields<StoredMessage>(kThinking, kToolCalls, kComponents, kCitations, kImageAnalysis, kRecordError);

bool is_user(const StoredMessage& m) { return m.role == "user"; }

template <class Table>
std::string object_text(const Table& table, const StoredMessage& m) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  table.write(w, m);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::string message_to_json(const StoredMessage& m) {
  return is_user(m) ? object_text(kUserMessage, m) : object_text(kAssistantMessage, m);
}

std::string message_detail_json(const StoredMessage& m) {
  return is_user(m) ? object_text(kUserDetail, m) : object_text(kAssistantDetail, m);
}

void read_message_detail(std::string_view text, StoredMessage& m) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return;
  Fields f(doc);
  const Limits limits;
  if (is_user(m)) {
    kUserDetail.read_all(f, m, limits);
  } else {
    kAssistantDetail.read_all(f, m, limits);
  }
}

}  // namespace chatwire::protocol
