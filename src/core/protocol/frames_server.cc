// (Not named server_*.cc: scripts/sources.mjs leaves those out of the browser build, which decodes server frames.)
// Readers and writers of the frames a server sends (PROTOCOL.md, "Server to
// client"), one pair per row of the frame table (frames.cc), and the
// sub-objects (imageAnalysis, citations) that frames, client events and the
// client store share.
#include "core/protocol/frame_codec.h"

namespace chatwire::protocol::internal {

namespace {

std::optional<std::vector<ImageAnalysis>> read_analysis(Fields& f) {
  const Value* a = f.array("imageAnalysis", false);
  if (!a) return std::nullopt;
  std::vector<ImageAnalysis> out;
  for (size_t i = 0; i < a->Size(); ++i) {
    const Value& v = (*a)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "imageAnalysis[" + std::to_string(i) + "]";
    if (!v.IsObject()) {
      f.fail(ErrorCode::invalid_field, "field '" + where + "' must be an object");
      return std::nullopt;
    }
    Fields g(v, where + ".");
    ImageAnalysis x;
    x.image_id = g.id("imageId");
    x.description = g.string("description", false, false).value_or("");
    x.category = g.string("category", false, false).value_or("");
    x.condition = g.string("condition", false, false).value_or("");
    x.features = g.strings("features");
    x.recommendations = g.strings("recommendations");
    if (!g.ok()) {
      f.fail(g.error().code, g.error().message);
      return std::nullopt;
    }
    out.push_back(std::move(x));
  }
  return out;
}

std::optional<std::vector<Citation>> read_citations(Fields& f) {
  const Value* a = f.array("citations", false);
  if (!a) return std::nullopt;
  std::vector<Citation> out;
  for (size_t i = 0; i < a->Size(); ++i) {
    const Value& v = (*a)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "citations[" + std::to_string(i) + "]";
    if (!v.IsObject()) {
      f.fail(ErrorCode::invalid_field, "field '" + where + "' must be an object");
      return std::nullopt;
    }
    Fields g(v, where + ".");
    Citation c;
    c.document_id = g.string("documentId", false, false).value_or("");
    c.chunk_id = g.string("chunkId", false, false).value_or("");
    c.filename = g.string("filename", false, false).value_or("");
    c.page_start = g.integer("pageStart", false, INT64_MIN, INT64_MAX);
    c.page_end = g.integer("pageEnd", false, INT64_MIN, INT64_MAX);
    c.score = g.number("score");
    if (!g.ok()) {
      f.fail(g.error().code, g.error().message);
      return std::nullopt;
    }
    out.push_back(std::move(c));
  }
  return out;
}

void put_analysis(Writer& w, const std::optional<std::vector<ImageAnalysis>>& list) {
  if (!list) return;
  w.Key("imageAnalysis");
  write_analysis_list(w, *list);
}

void put_citations(Writer& w, const std::optional<std::vector<Citation>>& list) {
  if (!list) return;
  w.Key("citations");
  write_citations(w, *list);
}

}  // namespace

// ------------------------------------------------------------------ readers

Result<ConnectConfirm> read_connect_confirm(Fields& f, const Limits&) {
  ConnectConfirm c;
  c.conversation_id = f.id("conversationId");
  c.connection_id = f.id("connectionId");
  c.resumed = f.boolean("resumed", true).value_or(false);
  c.recovered = f.boolean("recovered", false).value_or(true);
  c.heartbeat_ms = f.integer("heartbeatMs", false, 1, INT64_MAX).value_or(10000);
  c.timestamp = f.timestamp();
  read_objects(f, "conversations", SIZE_MAX, c.conversations, [](Fields& g) {
    return ResumedConversation{g.id("conversationId"), g.boolean("resumed", true).value_or(false),
                               g.boolean("recovered", false).value_or(true)};
  });
  return finish(f, std::move(c));
}

Result<Pong> read_pong(Fields& f, const Limits&) {
  Pong p;
  p.timestamp = f.timestamp();
  return finish(f, std::move(p));
}

Result<Confirm> read_confirm(Fields& f, const Limits&) {
  Confirm c;
  c.message_id = f.id("messageId");
  c.image_id = f.optional_id("imageId");
  c.status = f.string("status", false);
  if (f.ok() && c.status && *c.status != "received" && *c.status != "processing" && *c.status != "analyzed") {
    f.fail(ErrorCode::invalid_field, "field 'status' must be received, processing or analyzed");
  }
  if (f.ok() && c.image_id.has_value() != c.status.has_value()) {
    f.fail(ErrorCode::invalid_field, "an image confirm needs both 'imageId' and 'status'");
  }
  c.seq = f.seq();
  c.timestamp = f.timestamp();
  c.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(c));
}

Result<Thinking> read_thinking(Fields& f, const Limits&) {
  Thinking t;
  t.reply_to = f.id("replyTo");
  t.step = f.text("step");
  t.seq = f.seq();
  t.timestamp = f.timestamp();
  t.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(t));
}

Result<Delta> read_delta(Fields& f, const Limits&) {
  Delta d;
  d.message_id = f.id("messageId");
  d.reply_to = f.id("replyTo");
  d.index = f.integer("index", true, 0, INT64_MAX).value_or(0);
  d.delta = f.text("delta");
  d.timestamp = f.timestamp();
  d.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(d));
}

Result<Response> read_response(Fields& f, const Limits&) {
  Response r;
  r.message_id = f.id("messageId");
  r.reply_to = f.id("replyTo");
  r.content = f.text("content");
  r.seq = f.seq();
  r.timestamp = f.timestamp();
  r.image_analysis = read_analysis(f);
  r.citations = read_citations(f);
  r.cancelled = f.boolean("cancelled", false).value_or(false);
  r.conversation_id = f.optional_id("conversationId");
  r.version = f.integer("version", false, 1, INT64_MAX);
  r.metadata = read_metadata(f, "metadata");
  return finish(f, std::move(r));
}

Result<ToolCall> read_tool_call(Fields& f, const Limits&) {
  ToolCall t;
  t.tool_call_id = f.id("toolCallId");
  t.reply_to = f.id("replyTo");
  t.name = f.text("name", true);
  t.arguments = f.raw("arguments", false).value_or(RawJson{"{}"});
  t.seq = f.seq();
  t.timestamp = f.timestamp();
  t.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(t));
}

Result<Component> read_component(Fields& f, const Limits&) {
  Component c;
  c.component_id = f.id("componentId");
  c.reply_to = f.id("replyTo");
  c.component = f.text("component", true);
  c.props = f.raw("props", false).value_or(RawJson{"{}"});
  c.seq = f.seq();
  c.timestamp = f.timestamp();
  c.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(c));
}

Result<TypingIndicator> read_typing_indicator(Fields& f, const Limits&) {
  TypingIndicator t;
  t.is_typing = f.boolean("isTyping", true).value_or(false);
  t.timestamp = f.timestamp();
  t.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(t));
}

Result<History> read_history(Fields& f, const Limits&) {
  History h;
  h.conversation_id = f.id("conversationId");
  h.has_more = f.boolean("hasMore", false).value_or(false);
  const Value* msgs = f.array("messages", true);
  for (size_t i = 0; f.ok() && msgs && i < msgs->Size(); ++i) {
    const Value& v = (*msgs)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!v.IsObject()) return object_error(where);
    Fields g(v, where + ".");
    HistoryEntry e;
    e.seq = g.integer("seq", true, 1, INT64_MAX).value_or(0);
    e.role = g.text("role", true);
    if (g.ok() && e.role != "user" && e.role != "assistant") {
      g.fail(ErrorCode::invalid_field, "field '" + where + ".role' must be user or assistant");
    }
    e.message_id = g.id("messageId");
    e.reply_to = g.optional_id("replyTo");
    e.content = g.string("content", false, false).value_or("");
    e.timestamp = g.timestamp();
    e.cancelled = g.boolean("cancelled", false).value_or(false);
    e.truncated = g.boolean("truncated", false).value_or(false);
    e.parent_id = read_nullable_id(g, "parentId");
    e.version = g.integer("version", false, 1, INT64_MAX);
    e.metadata = read_metadata(g, "metadata");
    if (const Value* imgs = g.array("images", false)) {
      for (size_t k = 0; g.ok() && k < imgs->Size(); ++k) {
        const Value& iv = (*imgs)[static_cast<rapidjson::SizeType>(k)];
        const std::string iw = where + ".images[" + std::to_string(k) + "]";
        if (!iv.IsObject()) return object_error(iw);
        Fields im(iv, iw + ".");
        HistoryImage hi;
        hi.id = im.id("id");
        hi.mime_type = im.text("mimeType", true);
        hi.filename = im.string("filename", false, false);
        if (!im.ok()) return im.take_error();
        e.images.push_back(std::move(hi));
      }
    }
    e.image_analysis = read_analysis(g);
    e.citations = read_citations(g);
    if (!g.ok()) return g.take_error();
    h.messages.push_back(std::move(e));
  }
  return finish(f, std::move(h));
}

Result<ErrorEvent> read_error_event(Fields& f, const Limits&) {
  ErrorEvent e;
  auto code = f.text("code", true);
  if (f.ok()) {
    auto parsed = error_code_from_name(code);
    // An unknown code from a newer server is still an error: keep it readable as internal.
    e.error.code = parsed.value_or(ErrorCode::internal);
  }
  e.error.message = f.text("error");
  e.error.message_id = f.optional_id("messageId").value_or("");
  e.error.image_id = f.optional_id("imageId").value_or("");
  e.error.retry_after_ms = f.integer("retryAfterMs", false, 0, INT64_MAX).value_or(-1);
  e.seq = f.optional_seq();
  e.timestamp = f.timestamp();
  e.conversation_id = f.optional_id("conversationId");
  return finish(f, std::move(e));
}

Result<Conversations> read_conversations(Fields& f, const Limits&) {
  Conversations c;
  c.has_more = f.boolean("hasMore", false).value_or(false);
  c.cursor = f.string("cursor", false, false);
  const Value* items = f.array("items", true);
  for (size_t i = 0; f.ok() && items && i < items->Size(); ++i) {
    const Value& v = (*items)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "items[" + std::to_string(i) + "]";
    if (!v.IsObject()) return object_error(where);
    Fields g(v, where + ".");
    ConversationItem item;
    item.conversation_id = g.id("conversationId");
    item.title = g.string("title", false, false);
    item.created_at = g.timestamp("createdAt");
    item.updated_at = g.timestamp("updatedAt");
    item.archived = g.boolean("archived", false).value_or(false);
    item.metadata = read_metadata(g, "metadata").value_or(RawJson{"{}"});
    if (const Value* last = g.find("lastMessage"); g.ok() && last && !last->IsNull()) {
      if (!last->IsObject()) return object_error(where + ".lastMessage");
      Fields l(*last, where + ".lastMessage.");
      item.last_message = ConversationLastMessage{l.text("role", true), l.text("content"), l.timestamp()};
      if (!l.ok()) return l.take_error();
    }
    if (!g.ok()) return g.take_error();
    c.items.push_back(std::move(item));
  }
  return finish(f, std::move(c));
}

Result<ConversationUpdated> read_conversation_updated(Fields& f, const Limits&) {
  ConversationUpdated c;
  c.conversation_id = f.id("conversationId");
  c.title = f.string("title", false, false);
  c.archived = f.boolean("archived", false).value_or(false);
  c.metadata = read_metadata(f, "metadata").value_or(RawJson{"{}"});
  c.updated_at = f.timestamp("updatedAt");
  c.seq = f.integer("seq", true, 1, INT64_MAX).value_or(0);
  c.timestamp = f.timestamp();
  return finish(f, std::move(c));
}

Result<ConversationDeleted> read_conversation_deleted(Fields& f, const Limits&) {
  ConversationDeleted d;
  d.conversation_id = f.id("conversationId");
  d.timestamp = f.timestamp();
  return finish(f, std::move(d));
}

// ------------------------------------------------------------------ writers

void write_analysis(Writer& w, const ImageAnalysis& a) {
  w.StartObject();
  put(w, "imageId", a.image_id);
  put(w, "description", a.description);
  put(w, "category", a.category);
  put(w, "condition", a.condition);
  put_strings(w, "features", a.features);
  put_strings(w, "recommendations", a.recommendations);
  w.EndObject();
}

void write_analysis_list(Writer& w, const std::vector<ImageAnalysis>& list) {
  w.StartArray();
  for (const auto& a : list) write_analysis(w, a);
  w.EndArray();
}

void write_citations(Writer& w, const std::vector<Citation>& list) {
  w.StartArray();
  for (const auto& c : list) {
    w.StartObject();
    put(w, "documentId", c.document_id);
    put(w, "chunkId", c.chunk_id);
    put(w, "filename", c.filename);
    if (c.page_start) put(w, "pageStart", *c.page_start);
    if (c.page_end) put(w, "pageEnd", *c.page_end);
    if (c.score) {
      w.Key("score");
      w.Double(*c.score);
    }
    w.EndObject();
  }
  w.EndArray();
}

void write_connect_confirm(Writer& w, const ConnectConfirm& c) {
  put(w, "conversationId", c.conversation_id);
  put(w, "connectionId", c.connection_id);
  put_bool(w, "resumed", c.resumed);
  put_bool(w, "recovered", c.recovered);
  put(w, "heartbeatMs", c.heartbeat_ms);
  put(w, "timestamp", c.timestamp);
  if (c.conversations) {
    put_objects(w, "conversations", *c.conversations, [&w](const ResumedConversation& r) {
      put(w, "conversationId", r.conversation_id);
      put_bool(w, "resumed", r.resumed);
      put_bool(w, "recovered", r.recovered);
    });
  }
}

void write_pong(Writer& w, const Pong& p) { put(w, "timestamp", p.timestamp); }

void write_confirm(Writer& w, const Confirm& c) {
  put(w, "messageId", c.message_id);
  put(w, "imageId", c.image_id);
  put(w, "status", c.status);
  put(w, "seq", c.seq);
  put(w, "timestamp", c.timestamp);
  put(w, "conversationId", c.conversation_id);
}

void write_thinking(Writer& w, const Thinking& t) {
  put(w, "replyTo", t.reply_to);
  put(w, "step", t.step);
  put(w, "seq", t.seq);
  put(w, "timestamp", t.timestamp);
  put(w, "conversationId", t.conversation_id);
}

void write_delta(Writer& w, const Delta& d) {
  put(w, "messageId", d.message_id);
  put(w, "replyTo", d.reply_to);
  put(w, "index", d.index);
  put(w, "delta", d.delta);
  put(w, "timestamp", d.timestamp);
  put(w, "conversationId", d.conversation_id);
}

void write_response(Writer& w, const Response& r) {
  put(w, "messageId", r.message_id);
  put(w, "replyTo", r.reply_to);
  put(w, "content", r.content);
  put(w, "seq", r.seq);
  put(w, "timestamp", r.timestamp);
  put_analysis(w, r.image_analysis);
  put_citations(w, r.citations);
  if (r.cancelled) put_bool(w, "cancelled", true);
  put(w, "conversationId", r.conversation_id);
  if (r.version) put(w, "version", *r.version);
  if (r.metadata) put(w, "metadata", *r.metadata);
}

void write_tool_call(Writer& w, const ToolCall& t) {
  put(w, "toolCallId", t.tool_call_id);
  put(w, "replyTo", t.reply_to);
  put(w, "name", t.name);
  put(w, "arguments", t.arguments);
  put(w, "seq", t.seq);
  put(w, "timestamp", t.timestamp);
  put(w, "conversationId", t.conversation_id);
}

void write_component(Writer& w, const Component& c) {
  put(w, "componentId", c.component_id);
  put(w, "replyTo", c.reply_to);
  put(w, "component", c.component);
  put(w, "props", c.props);
  put(w, "seq", c.seq);
  put(w, "timestamp", c.timestamp);
  put(w, "conversationId", c.conversation_id);
}

void write_typing_indicator(Writer& w, const TypingIndicator& t) {
  put_bool(w, "isTyping", t.is_typing);
  put(w, "timestamp", t.timestamp);
  put(w, "conversationId", t.conversation_id);
}

void write_history(Writer& w, const History& h) {
  put(w, "conversationId", h.conversation_id);
  w.Key("messages");
  w.StartArray();
  for (const auto& e : h.messages) {
    w.StartObject();
    put(w, "seq", e.seq);
    put(w, "role", e.role);
    put(w, "messageId", e.message_id);
    put(w, "replyTo", e.reply_to);
    put(w, "content", e.content);
    put(w, "timestamp", e.timestamp);
    if (e.role == "user") {
      w.Key("images");
      w.StartArray();
      for (const auto& i : e.images) {
        w.StartObject();
        put(w, "id", i.id);
        put(w, "mimeType", i.mime_type);
        put(w, "filename", i.filename);
        w.EndObject();
      }
      w.EndArray();
    }
    put_analysis(w, e.image_analysis);
    put_citations(w, e.citations);
    if (e.cancelled) put_bool(w, "cancelled", true);
    if (e.truncated) put_bool(w, "truncated", true);
    put_nullable(w, "parentId", e.parent_id);
    if (e.version) put(w, "version", *e.version);
    if (e.metadata) put(w, "metadata", *e.metadata);
    w.EndObject();
  }
  w.EndArray();
  put_bool(w, "hasMore", h.has_more);
}

void write_error_event(Writer& w, const ErrorEvent& e) {
  put_error_fields(w, e.error, "error");
  if (e.seq) put(w, "seq", *e.seq);
  put(w, "timestamp", e.timestamp);
  put(w, "conversationId", e.conversation_id);
}

void write_conversations(Writer& w, const Conversations& c) {
  w.Key("items");
  w.StartArray();
  for (const auto& item : c.items) {
    w.StartObject();
    put(w, "conversationId", item.conversation_id);
    put(w, "title", item.title);
    put(w, "createdAt", item.created_at);
    put(w, "updatedAt", item.updated_at);
    put_bool(w, "archived", item.archived);
    put(w, "metadata", item.metadata);
    if (item.last_message) {
      w.Key("lastMessage");
      w.StartObject();
      put(w, "role", item.last_message->role);
      put(w, "content", item.last_message->content);
      put(w, "timestamp", item.last_message->timestamp);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  put_bool(w, "hasMore", c.has_more);
  put(w, "cursor", c.cursor);
}

void write_conversation_updated(Writer& w, const ConversationUpdated& c) {
  put(w, "conversationId", c.conversation_id);
  put(w, "title", c.title);
  put_bool(w, "archived", c.archived);
  put(w, "metadata", c.metadata);
  put(w, "updatedAt", c.updated_at);
  put(w, "seq", c.seq);
  put(w, "timestamp", c.timestamp);
}

void write_conversation_deleted(Writer& w, const ConversationDeleted& d) {
  put(w, "conversationId", d.conversation_id);
  put(w, "timestamp", d.timestamp);
}

}  // namespace chatwire::protocol::internal
