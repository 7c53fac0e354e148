// (Not named server_*.cc: scripts/sources.mjs leaves those out of the browser build, which decodes server frames.)
// What the field tables of the frames a server sends (PROTOCOL.md, "Server to
// client"; frame_codec.h) cannot say: the image confirm's pair rule and the
// error object, whose fields every error writer shares (put_error_fields).
#include "core/protocol/frame_codec.h"

namespace chatwire::protocol::internal {

void check_image_confirm(Fields& f, const Confirm& c, const Limits&) {
  if (c.image_id.has_value() != c.status.has_value()) {
    f.fail(ErrorCode::invalid_field, "an image confirm needs both 'imageId' and 'status'");
  }
}

void read_error_fields(Fields& f, ErrorEvent& e, const Limits&) {
  auto code = f.text("code", true);
  if (f.ok()) {
    // An unknown code from a newer server is still an error: keep it readable as internal.
    e.error.code = error_code_from_name(code).value_or(ErrorCode::internal);
  }
  e.error.message = f.text("error");
  e.error.message_id = f.optional_id("messageId").value_or("");
  e.error.image_id = f.optional_id("imageId").value_or("");
  e.error.retry_after_ms = f.integer("retryAfterMs", false, 0, INT64_MAX).value_or(-1);
}

void write_error_fields(Writer& w, const ErrorEvent& e) { put_error_fields(w, e.error, "error"); }

}  // namespace chatwire::protocol::internal
