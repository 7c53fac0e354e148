// What the field tables of the frames a client sends (PROTOCOL.md, "Client to
// server"; frame_codec.h) cannot say: a message's images and size rules, the
// configure_tools counts, tool_result's one-of rule, update_conversation's
// title length.
#include "core/media/base64.h"
#include "core/media/image.h"
#include "core/protocol/frame_codec.h"

namespace chatwire::protocol::internal {

void read_image(Fields& g, Image& img, size_t index, const Limits& limits) {
  img.id = g.id("id");
  img.mime_type = g.text("mimeType", true);
  img.filename = g.string("filename", false, false, kMaxFilenameBytes);
  auto data = g.string("data", true, false);
  auto fail = [&](Error e) {
    if (!img.id.empty()) e.image_id = img.id;
    g.fail(std::move(e));
  };
  if (!g.ok()) return fail(g.take_error());
  const std::string label = "image " + std::to_string(index + 1) + " (" + img.id + ")";
  if (!media::is_supported_mime(img.mime_type)) {
    return fail(Error(ErrorCode::image_invalid, label + " has unsupported mimeType '" + img.mime_type +
                                                    "' (image/png, image/jpeg, image/gif, image/webp)"));
  }
  // Refuse by size before decoding, so an oversized image costs no allocation.
  if (data->size() / 4 * 3 > limits.max_image_bytes + 2) {
    return fail(Error(ErrorCode::too_large,
                      label + " is over the " + std::to_string(limits.max_image_bytes) + "-byte image limit"));
  }
  auto bytes = media::base64_decode(*data);
  if (!bytes) {
    return fail(Error(ErrorCode::image_invalid, label + " data is not valid base64: " + bytes.error().message));
  }
  auto info = media::check_image(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(),
                                 img.mime_type, limits, index + 1, img.id);
  if (!info) return fail(Error(info.error().code, info.error().message));
  img.bytes = std::move(*bytes);
  img.width = info->width;
  img.height = info->height;
}

void write_image(Writer& w, const Image& img) {
  w.StartObject();
  put(w, "id", img.id);
  put(w, "data", media::base64_encode(img.bytes));
  put(w, "mimeType", img.mime_type);
  put(w, "filename", img.filename);
  w.EndObject();
}

void check_message_size(Fields& f, const Message& m, const Limits& limits) {
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
}

Result<Message> read_message(Fields& f, const Limits& limits) {
  Message m;
  kMessageFields.read(f, m, limits);
  if (f.ok()) return m;
  Error e = f.take_error();
  e.message_id = m.message_id;  // "" unless messageId (read first) was valid
  return e;
}

void check_tools_size(Fields& f, const ConfigureTools&, const Limits& limits) {
  const Value* tools = f.array("tools", true);
  if (!tools) return;
  if (tools->Size() > limits.max_tools) {
    return f.fail(ErrorCode::too_large,
                  std::to_string(tools->Size()) + " tools, over the limit of " + std::to_string(limits.max_tools));
  }
  const size_t bytes = to_text(*tools).size();
  if (bytes > limits.max_tools_bytes) {
    f.fail(ErrorCode::too_large, "tools are " + std::to_string(bytes) + " bytes encoded, over the limit of " +
                                     std::to_string(limits.max_tools_bytes));
  }
}

void check_tool_result(Fields& f, const ToolResult& r, const Limits&) {
  if (r.result.has_value() == r.error.has_value()) {
    f.fail(ErrorCode::invalid_field, "a tool_result needs exactly one of 'result' or 'error'");
  }
}

void check_title(Fields& f, const UpdateConversation& u, const Limits&) {
  if (!u.title) return;
  if (auto e = title_error(*u.title)) f.fail(std::move(*e));
}

}  // namespace chatwire::protocol::internal
