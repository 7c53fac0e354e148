// Readers and writers of the frames a client sends (PROTOCOL.md, "Client to
// server"), one pair per row of the frame table (frames.cc).
#include <set>

#include "core/media/base64.h"
#include "core/media/image.h"
#include "core/protocol/frame_codec.h"

namespace chatwire::protocol::internal {

namespace {

constexpr size_t kMaxToolNameBytes = 128;
constexpr size_t kMaxFilenameBytes = 1024;

// One entry of a message's `images`: fields, then base64, then the bytes.
// Errors name the image by 1-based position and id, and carry the id.
Result<Image> read_image(const Value& v, size_t index, const Limits& limits) {
  const std::string where = "images[" + std::to_string(index) + "]";
  if (!v.IsObject()) return object_error(where);
  Fields f(v, where + ".");
  Image img;
  img.id = f.id("id");
  img.mime_type = f.text("mimeType", true);
  img.filename = f.string("filename", false, false, kMaxFilenameBytes);
  auto data = f.string("data", true, false);
  if (!f.ok()) {
    Error e = f.take_error();
    if (!img.id.empty()) e.image_id = img.id;
    return e;
  }
  const std::string label = "image " + std::to_string(index + 1) + " (" + img.id + ")";
  auto fail = [&](ErrorCode code, std::string message) {
    Error e(code, std::move(message));
    e.image_id = img.id;
    return e;
  };
  if (!media::is_supported_mime(img.mime_type)) {
    return fail(ErrorCode::image_invalid, label + " has unsupported mimeType '" + img.mime_type +
                                              "' (image/png, image/jpeg, image/gif, image/webp)");
  }
  // Refuse by size before decoding, so an oversized image costs no allocation.
  if (data->size() / 4 * 3 > limits.max_image_bytes + 2) {
    return fail(ErrorCode::too_large, label + " is over the " + std::to_string(limits.max_image_bytes) +
                                          "-byte image limit");
  }
  auto bytes = media::base64_decode(*data);
  if (!bytes) {
    return fail(ErrorCode::image_invalid, label + " data is not valid base64: " + bytes.error().message);
  }
  auto info = media::check_image(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(),
                                 img.mime_type, limits, index + 1, img.id);
  if (!info) return fail(info.error().code, info.error().message);
  img.bytes = std::move(*bytes);
  img.width = info->width;
  img.height = info->height;
  return img;
}

}  // namespace

// ------------------------------------------------------------------ readers

Result<Message> read_message(Fields& f, const Limits& limits) {
  Message m;
  m.message_id = f.id("messageId");
  const std::string message_id = f.ok() ? m.message_id : "";
  auto failed = [&](Error e) -> Result<Message> {
    e.message_id = message_id;
    return e;
  };
  m.client_id = f.id("clientId");
  m.timestamp = f.timestamp();
  m.content = f.string("content", false, false);
  m.conversation_id = f.optional_id("conversationId");
  m.metadata = read_metadata(f, "metadata");
  m.parent_id = read_nullable_id(f, "parentId");
  const Value* images = f.array("images", false);
  if (f.ok() && m.content && m.content->size() > limits.max_content_bytes) {
    f.fail(ErrorCode::too_large, "content is " + std::to_string(m.content->size()) + " bytes, over the " +
                                     std::to_string(limits.max_content_bytes) + "-byte limit");
  }
  if (f.ok() && images && images->Size() > limits.max_images) {
    f.fail(ErrorCode::too_large, std::to_string(images->Size()) + " images, over the limit of " +
                                     std::to_string(limits.max_images) + " per message");
  }
  if (f.ok() && (!m.content || m.content->empty()) && (!images || images->Empty())) {
    f.fail(ErrorCode::invalid_field, "a message needs a non-empty 'content' or 'images'");
  }
  if (!f.ok()) return failed(f.take_error());
  std::set<std::string> ids;
  for (size_t i = 0; images && i < images->Size(); ++i) {
    auto img = read_image((*images)[static_cast<rapidjson::SizeType>(i)], i, limits);
    if (!img) return failed(std::move(img.error()));
    if (!ids.insert(img->id).second) {
      return failed(Error(ErrorCode::invalid_field,
                          "field 'images[" + std::to_string(i) + "].id' repeats '" + img->id + "'"));
    }
    m.images.push_back(std::move(*img));
  }
  return m;
}

Result<Connect> read_connect(Fields& f, const Limits&) {
  Connect c;
  c.client_id = f.id("clientId");
  c.timestamp = f.timestamp();
  c.conversation_id = f.optional_id("conversationId");
  c.last_seq = f.integer("lastSeq", false, 0, INT64_MAX);
  read_objects(f, "conversations", kMaxResumeConversations, c.conversations, [](Fields& g) {
    return ResumeConversation{g.id("conversationId"), g.integer("lastSeq", false, 0, INT64_MAX).value_or(0)};
  });
  return finish(f, std::move(c));
}

Result<Ping> read_ping(Fields& f, const Limits&) {
  Ping p;
  p.client_id = f.id("clientId");
  p.timestamp = f.timestamp();
  return finish(f, std::move(p));
}

Result<Typing> read_typing(Fields& f, const Limits&) {
  Typing t;
  t.client_id = f.id("clientId");
  t.is_typing = f.boolean("isTyping", true).value_or(false);
  t.timestamp = f.timestamp();
  return finish(f, std::move(t));
}

Result<LoadMessages> read_load_messages(Fields& f, const Limits&) {
  LoadMessages l;
  l.conversation_id = f.id("conversationId");
  l.before_seq = f.integer("beforeSeq", false, 0, INT64_MAX);
  l.limit = static_cast<int>(f.integer("limit", false, 1, 200).value_or(50));
  return finish(f, std::move(l));
}

Result<ConfigureTools> read_configure_tools(Fields& f, const Limits& limits) {
  ConfigureTools c;
  const Value* tools = f.array("tools", true);
  // Counted before anything is copied: 250,000 tools in one frame cost nothing.
  if (f.ok() && tools && tools->Size() > limits.max_tools) {
    return Error(ErrorCode::too_large, std::to_string(tools->Size()) + " tools, over the limit of " +
                                           std::to_string(limits.max_tools));
  }
  if (f.ok() && tools) {
    const size_t bytes = to_text(*tools).size();
    if (bytes > limits.max_tools_bytes) {
      return Error(ErrorCode::too_large, "tools are " + std::to_string(bytes) + " bytes encoded, over the limit of " +
                                             std::to_string(limits.max_tools_bytes));
    }
  }
  std::set<std::string> names;
  for (size_t i = 0; f.ok() && tools && i < tools->Size(); ++i) {
    const Value& v = (*tools)[static_cast<rapidjson::SizeType>(i)];
    const std::string where = "tools[" + std::to_string(i) + "]";
    if (!v.IsObject()) return object_error(where);
    Fields t(v, where + ".");
    ToolSpec spec;
    spec.name = t.string("name", true, true, kMaxToolNameBytes).value_or("");
    spec.description = t.string("description", false, false).value_or("");
    spec.parameters = t.raw("parameters", false).value_or(RawJson{"{\"type\":\"object\"}"});
    if (!t.ok()) return t.take_error();
    if (!names.insert(spec.name).second) {
      return Error(ErrorCode::invalid_field, "field '" + where + ".name' repeats '" + spec.name + "'");
    }
    c.tools.push_back(std::move(spec));
  }
  return finish(f, std::move(c));
}

Result<ToolResult> read_tool_result(Fields& f, const Limits&) {
  ToolResult r;
  r.tool_call_id = f.id("toolCallId");
  r.result = f.raw("result", false);
  r.error = f.string("error", false, false);
  if (f.ok() && r.result.has_value() == r.error.has_value()) {
    f.fail(ErrorCode::invalid_field, "a tool_result needs exactly one of 'result' or 'error'");
  }
  return finish(f, std::move(r));
}

Result<ComponentAction> read_component_action(Fields& f, const Limits&) {
  ComponentAction a;
  a.component_id = f.id("componentId");
  a.action = f.text("action", true);
  a.values = f.raw("values", false).value_or(RawJson{"{}"});
  a.timestamp = f.timestamp();
  return finish(f, std::move(a));
}

Result<Cancel> read_cancel(Fields& f, const Limits&) {
  Cancel c;
  c.reply_to = f.id("replyTo");
  c.timestamp = f.timestamp();
  return finish(f, std::move(c));
}

Result<Disconnect> read_disconnect(Fields& f, const Limits&) {
  Disconnect d;
  d.client_id = f.id("clientId");
  d.timestamp = f.timestamp();
  return finish(f, std::move(d));
}

Result<ListConversations> read_list_conversations(Fields& f, const Limits&) {
  ListConversations l;
  l.limit = static_cast<int>(f.integer("limit", false, 1, 100).value_or(20));
  l.before = f.string("before", false, false, kMaxIdBytes * 2);
  return finish(f, std::move(l));
}

Result<UpdateConversation> read_update_conversation(Fields& f, const Limits&) {
  UpdateConversation u;
  u.conversation_id = f.id("conversationId");
  u.title = f.string("title", false, false);
  if (f.ok() && u.title) {
    if (auto e = title_error(*u.title)) f.fail(e->code, e->message);
  }
  if (f.find("archived") && !f.find("archived")->IsNull()) u.archived = f.boolean("archived", true);
  u.metadata = read_metadata(f, "metadata");
  return finish(f, std::move(u));
}

Result<DeleteConversation> read_delete_conversation(Fields& f, const Limits&) {
  DeleteConversation d;
  d.conversation_id = f.id("conversationId");
  return finish(f, std::move(d));
}

// ------------------------------------------------------------------ writers

void write_connect(Writer& w, const Connect& c) {
  put(w, "clientId", c.client_id);
  put(w, "timestamp", c.timestamp);
  put(w, "conversationId", c.conversation_id);
  if (c.last_seq) put(w, "lastSeq", *c.last_seq);
  if (c.conversations) {
    put_objects(w, "conversations", *c.conversations, [&w](const ResumeConversation& r) {
      put(w, "conversationId", r.conversation_id);
      put(w, "lastSeq", r.last_seq);
    });
  }
}

void write_ping(Writer& w, const Ping& p) {
  put(w, "clientId", p.client_id);
  put(w, "timestamp", p.timestamp);
}

void write_message(Writer& w, const Message& m) {
  put(w, "messageId", m.message_id);
  put(w, "clientId", m.client_id);
  put(w, "timestamp", m.timestamp);
  put(w, "content", m.content);
  if (!m.images.empty()) {
    w.Key("images");
    w.StartArray();
    for (const auto& img : m.images) {
      w.StartObject();
      put(w, "id", img.id);
      put(w, "data", media::base64_encode(img.bytes));
      put(w, "mimeType", img.mime_type);
      put(w, "filename", img.filename);
      w.EndObject();
    }
    w.EndArray();
  }
  put(w, "conversationId", m.conversation_id);
  if (m.metadata) put(w, "metadata", *m.metadata);
  put_nullable(w, "parentId", m.parent_id);
}

void write_typing(Writer& w, const Typing& t) {
  put(w, "clientId", t.client_id);
  put_bool(w, "isTyping", t.is_typing);
  put(w, "timestamp", t.timestamp);
}

void write_load_messages(Writer& w, const LoadMessages& l) {
  put(w, "conversationId", l.conversation_id);
  if (l.before_seq) put(w, "beforeSeq", *l.before_seq);
  put(w, "limit", int64_t{l.limit});
}

void write_tools(Writer& w, const std::vector<ToolSpec>& tools) {
  w.StartArray();
  for (const auto& t : tools) {
    w.StartObject();
    put(w, "name", t.name);
    put(w, "description", t.description);
    put(w, "parameters", t.parameters);
    w.EndObject();
  }
  w.EndArray();
}

void write_configure_tools(Writer& w, const ConfigureTools& c) {
  w.Key("tools");
  write_tools(w, c.tools);
}

void write_tool_result(Writer& w, const ToolResult& r) {
  put(w, "toolCallId", r.tool_call_id);
  if (r.result) put(w, "result", *r.result);
  put(w, "error", r.error);
}

void write_component_action(Writer& w, const ComponentAction& a) {
  put(w, "componentId", a.component_id);
  put(w, "action", a.action);
  put(w, "values", a.values);
  put(w, "timestamp", a.timestamp);
}

void write_cancel(Writer& w, const Cancel& c) {
  put(w, "replyTo", c.reply_to);
  put(w, "timestamp", c.timestamp);
}

void write_disconnect(Writer& w, const Disconnect& d) {
  put(w, "clientId", d.client_id);
  put(w, "timestamp", d.timestamp);
}

void write_list_conversations(Writer& w, const ListConversations& l) {
  put(w, "limit", int64_t{l.limit});
  put(w, "before", l.before);
}

void write_update_conversation(Writer& w, const UpdateConversation& u) {
  put(w, "conversationId", u.conversation_id);
  put(w, "title", u.title);
  if (u.archived) put_bool(w, "archived", *u.archived);
  if (u.metadata) put(w, "metadata", *u.metadata);
}

void write_delete_conversation(Writer& w, const DeleteConversation& d) {
  put(w, "conversationId", d.conversation_id);
}

}  // namespace chatwire::protocol::internal
