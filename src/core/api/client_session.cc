#include "core/api/client_session.h"

#include "core/api/facade.h"
#include "core/protocol/json.h"

namespace chatwire::api {

namespace {

int64_t ms(double now) { return static_cast<int64_t>(now); }

template <class T>
std::string result_json(const Result<T>& r) {
  return r ? protocol::value_result_json(r.value()) : error_json(r.error());
}

std::string closed_error() {
  return error_json(Error(ErrorCode::internal, "the client is closed"));
}

}  // namespace

ClientSession::ClientSession(std::unique_ptr<Entropy> entropy) : entropy_(std::move(entropy)) {}

ClientSession::~ClientSession() { close(); }

std::string ClientSession::open(const std::string& config_json, const std::string& storage_path,
                                const std::string& journal_mode, double now) {
  if (engine_) return error_json(Error(ErrorCode::internal, "the client is already open"));
  auto config = client::client_config_from_json(config_json);
  if (!config) return error_json(config.error());
  store::ClientStoreOptions options;
  options.journal_mode = journal_mode;
  auto store = store::ClientStore::open(storage_path, options);
  if (!store) return error_json(store.error());
  auto engine = client::ClientEngine::create(std::move(*config), **store, *entropy_, ms(now));
  if (!engine) return error_json(engine.error());
  store_ = std::move(*store);
  engine_ = std::move(*engine);
  return "";
}

void ClientSession::close() {
  engine_.reset();
  store_.reset();
  staged_.clear();
}

void ClientSession::connect(double now) {
  if (engine_) engine_->connect(ms(now));
}
void ClientSession::reconnect(double now) {
  if (engine_) engine_->reconnect(ms(now));
}
void ClientSession::disconnect(double now) {
  if (engine_) engine_->disconnect(ms(now));
}
void ClientSession::visibility_changed(double now, bool visible) {
  if (engine_) engine_->visibility_changed(ms(now), visible);
}
void ClientSession::online(double now) {
  if (engine_) engine_->online(ms(now));
}

void ClientSession::stage_image(std::string bytes) { staged_.push_back(std::move(bytes)); }

std::string ClientSession::send(double now, const std::string& draft_json) {
  std::vector<std::string> images = std::move(staged_);
  staged_.clear();
  if (!engine_) return closed_error();
  return result_json(engine_->send(ms(now), draft_json, std::move(images)));
}

std::string ClientSession::retry(double now, const std::string& message_id) {
  if (!engine_) return closed_error();
  return result_json(engine_->retry(ms(now), message_id));
}

std::string ClientSession::cancel(double now, const std::string& message_id) {
  if (!engine_) return closed_error();
  return result_json(engine_->cancel(ms(now), message_id));
}

std::string ClientSession::submit_component(double now, const std::string& component_id, const std::string& action,
                                            const std::string& values_json) {
  if (!engine_) return closed_error();
  return result_json(engine_->submit_component(ms(now), component_id, action, values_json));
}

std::string ClientSession::load_older(double now) {
  if (!engine_) return closed_error();
  return result_json(engine_->load_older(ms(now)));
}

void ClientSession::set_typing(double now, bool typing) {
  if (engine_) engine_->set_typing(ms(now), typing);
}
void ClientSession::configure_tools(double now, const std::string& tools_json) {
  if (engine_) engine_->configure_tools(ms(now), tools_json);
}
void ClientSession::tool_result(double now, const std::string& tool_call_id, const std::string& result_json,
                                bool is_error) {
  if (engine_) engine_->tool_result(ms(now), tool_call_id, result_json, is_error);
}

void ClientSession::handle_ticket(double now, bool ok, const std::string& ticket) {
  if (engine_) engine_->handle_ticket(ms(now), ok ? std::optional<std::string>(ticket) : std::nullopt);
}
void ClientSession::handle_open(double now) {
  if (engine_) engine_->handle_open(ms(now));
}
void ClientSession::handle_frame(double now, const std::string& text) {
  if (engine_) engine_->handle_frame(ms(now), text);
}
void ClientSession::handle_close(double now, int code, int http_status) {
  if (engine_) engine_->handle_close(ms(now), code, http_status);
}
void ClientSession::handle_timeout(double now) {
  if (engine_) engine_->handle_timeout(ms(now));
}

std::string ClientSession::drain() {
  if (!engine_) return "{\"actions\":[],\"events\":[],\"timeout\":null,\"flush\":false}";
  protocol::EventWriter w;
  w.key("actions").begin_array();
  using Kind = client::ClientEngine::Action::Kind;
  while (auto a = engine_->poll_action()) {
    w.begin_object();
    switch (a->kind) {
      case Kind::open:
        w.str("kind", "open").str("url", a->url).str("transport", a->transport);
        break;
      case Kind::close:
        w.str("kind", "close").num("code", a->code);
        break;
      case Kind::transmit:
        w.str("kind", "transmit").str("text", a->text);
        break;
      case Kind::fetch_ticket:
        w.str("kind", "fetch_ticket");
        break;
      case Kind::run_tool:
        w.str("kind", "run_tool").str("toolCallId", a->tool_call_id).str("name", a->tool_name);
        w.raw("arguments", a->arguments_json.empty() ? "{}" : a->arguments_json);
        break;
    }
    w.end_object();
  }
  w.end_array().key("events").begin_array();
  while (auto e = engine_->poll_event()) w.raw(*e);
  w.end_array().key("timeout");
  if (auto t = engine_->poll_timeout()) {
    w.integer(*t);
  } else {
    w.null();
  }
  w.boolean("flush", store_->dirty());
  store_->mark_flushed();
  return w.done();
}

std::string ClientSession::messages_json() const { return engine_ ? engine_->messages_json() : "[]"; }
std::string ClientSession::connection_json() const {
  return engine_ ? engine_->connection_json()
                 : "{\"status\":\"closed\",\"attempt\":0,\"nextRetryAt\":null,\"conversationId\":null}";
}
std::string ClientSession::client_id() const { return engine_ ? engine_->client_id() : ""; }

}  // namespace chatwire::api
