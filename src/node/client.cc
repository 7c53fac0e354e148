// ChatClient's native half in Node: the core's ClientSession (engine + SQLite
// store) and an outgoing WebSocket (WsClient). The JS ChatClient
// (js/internal/client.mjs) pumps between them exactly as it pumps between the
// WASM session and a browser WebSocket, so both builds share one pump.
#include <napi.h>
#include <uv.h>

#include <memory>

#include "core/api/client_session.h"
#include "node/conversions.h"
#include "node/entropy.h"
#include "node/transport.h"

namespace chatwire::node {

namespace {

double num_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  return info[i].As<Napi::Number>().DoubleValue();
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i && info[i].ToBoolean().Value(); }

}  // namespace

// new ClientSessionNative(); methods mirror api::ClientSession one to one.
class ClientSessionNative : public Napi::ObjectWrap<ClientSessionNative> {
 public:
  static Napi::Function define(Napi::Env env) {
    using C = ClientSessionNative;
    return DefineClass(env, "ClientSessionNative",
                       {
                           InstanceMethod<&C::open>("open"),
                           InstanceMethod<&C::close>("close"),
                           InstanceMethod<&C::connect>("connect"),
                           InstanceMethod<&C::reconnect>("reconnect"),
                           InstanceMethod<&C::disconnect>("disconnect"),
                           InstanceMethod<&C::visibility_changed>("visibilityChanged"),
                           InstanceMethod<&C::online>("online"),
                           InstanceMethod<&C::stage_image>("stageImage"),
                           InstanceMethod<&C::send>("send"),
                           InstanceMethod<&C::retry>("retry"),
                           InstanceMethod<&C::cancel>("cancel"),
                           InstanceMethod<&C::submit_component>("submitComponent"),
                           InstanceMethod<&C::load_older>("loadOlder"),
                           InstanceMethod<&C::set_typing>("setTyping"),
                           InstanceMethod<&C::configure_tools>("configureTools"),
                           InstanceMethod<&C::tool_result>("toolResult"),
                           InstanceMethod<&C::handle_ticket>("handleTicket"),
                           InstanceMethod<&C::handle_open>("handleOpen"),
                           InstanceMethod<&C::handle_frame>("handleFrame"),
                           InstanceMethod<&C::handle_close>("handleClose"),
                           InstanceMethod<&C::handle_timeout>("handleTimeout"),
                           InstanceMethod<&C::drain>("drain"),
                           InstanceMethod<&C::messages>("messages"),
                           InstanceMethod<&C::connection>("connection"),
                           InstanceMethod<&C::client_id>("clientId"),
                       });
  }

  explicit ClientSessionNative(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ClientSessionNative>(info), session_(std::make_unique<SystemEntropy>()) {}

 private:
  Napi::Env env() { return Env(); }
  Napi::Value json(std::string_view text) { return from_json(Env(), text); }
  Napi::Value none() { return Env().Undefined(); }

  Napi::Value open(const Napi::CallbackInfo& i) {
    const std::string err = session_.open(string_arg(i, 0, "config"), string_arg(i, 1, "storage"),
                                          optional_string_arg(i, 2), num_arg(i, 3, "now"));
    return err.empty() ? none() : json(err);
  }
  Napi::Value close(const Napi::CallbackInfo&) { session_.close(); return none(); }
  Napi::Value connect(const Napi::CallbackInfo& i) { session_.connect(num_arg(i, 0, "now")); return none(); }
  Napi::Value reconnect(const Napi::CallbackInfo& i) { session_.reconnect(num_arg(i, 0, "now")); return none(); }
  Napi::Value disconnect(const Napi::CallbackInfo& i) { session_.disconnect(num_arg(i, 0, "now")); return none(); }
  Napi::Value visibility_changed(const Napi::CallbackInfo& i) {
    session_.visibility_changed(num_arg(i, 0, "now"), bool_arg(i, 1));
    return none();
  }
  Napi::Value online(const Napi::CallbackInfo& i) { session_.online(num_arg(i, 0, "now")); return none(); }
  Napi::Value stage_image(const Napi::CallbackInfo& i) {
    auto bytes = bytes_arg(i, 0, "bytes");
    session_.stage_image(std::string(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength()));
    return none();
  }
  Napi::Value send(const Napi::CallbackInfo& i) {
    return json(session_.send(num_arg(i, 0, "now"), string_arg(i, 1, "draft")));
  }
  Napi::Value retry(const Napi::CallbackInfo& i) {
    return json(session_.retry(num_arg(i, 0, "now"), string_arg(i, 1, "messageId")));
  }
  Napi::Value cancel(const Napi::CallbackInfo& i) {
    return json(session_.cancel(num_arg(i, 0, "now"), string_arg(i, 1, "messageId")));
  }
  Napi::Value submit_component(const Napi::CallbackInfo& i) {
    return json(session_.submit_component(num_arg(i, 0, "now"), string_arg(i, 1, "componentId"),
                                          string_arg(i, 2, "action"), string_arg(i, 3, "values")));
  }
  Napi::Value load_older(const Napi::CallbackInfo& i) { return json(session_.load_older(num_arg(i, 0, "now"))); }
  Napi::Value set_typing(const Napi::CallbackInfo& i) {
    session_.set_typing(num_arg(i, 0, "now"), bool_arg(i, 1));
    return none();
  }
  Napi::Value configure_tools(const Napi::CallbackInfo& i) {
    session_.configure_tools(num_arg(i, 0, "now"), string_arg(i, 1, "tools"));
    return none();
  }
  Napi::Value tool_result(const Napi::CallbackInfo& i) {
    session_.tool_result(num_arg(i, 0, "now"), string_arg(i, 1, "toolCallId"), string_arg(i, 2, "result"),
                         bool_arg(i, 3));
    return none();
  }
  Napi::Value handle_ticket(const Napi::CallbackInfo& i) {
    session_.handle_ticket(num_arg(i, 0, "now"), bool_arg(i, 1), optional_string_arg(i, 2));
    return none();
  }
  Napi::Value handle_open(const Napi::CallbackInfo& i) { session_.handle_open(num_arg(i, 0, "now")); return none(); }
  Napi::Value handle_frame(const Napi::CallbackInfo& i) {
    session_.handle_frame(num_arg(i, 0, "now"), string_arg(i, 1, "text"));
    return none();
  }
  Napi::Value handle_close(const Napi::CallbackInfo& i) {
    session_.handle_close(num_arg(i, 0, "now"), static_cast<int>(num_arg(i, 1, "code")),
                          static_cast<int>(num_arg(i, 2, "httpStatus")));
    return none();
  }
  Napi::Value handle_timeout(const Napi::CallbackInfo& i) {
    session_.handle_timeout(num_arg(i, 0, "now"));
    return none();
  }
  Napi::Value drain(const Napi::CallbackInfo&) { return json(session_.drain()); }
  Napi::Value messages(const Napi::CallbackInfo&) { return json(session_.messages_json()); }
  Napi::Value connection(const Napi::CallbackInfo&) { return json(session_.connection_json()); }
  Napi::Value client_id(const Napi::CallbackInfo&) { return Napi::String::New(Env(), session_.client_id()); }

  api::ClientSession session_;
};

// A WebSocket-like outgoing socket (WsClient, ws_client.cc):
// new SocketNative(url, onOpen(), onMessage(text), onClose(code, httpStatus)); send(text); close(code, reason).
class SocketNative : public Napi::ObjectWrap<SocketNative> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "SocketNative",
                       {InstanceMethod<&SocketNative::send>("send"), InstanceMethod<&SocketNative::close>("close"),
                        InstanceMethod<&SocketNative::destroy>("destroy")});
  }

  explicit SocketNative(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SocketNative>(info), async_context_(info.Env(), "chatwire:socket") {
    Napi::Env env = info.Env();
    const std::string url = string_arg(info, 0, "url");
    for (size_t k = 1; k <= 3; ++k) {
      if (info.Length() <= k || !info[k].IsFunction()) throw Napi::TypeError::New(env, "callbacks must be functions");
    }
    on_open_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_message_ = Napi::Persistent(info[2].As<Napi::Function>());
    on_close_ = Napi::Persistent(info[3].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    WsClient::Callbacks cb;
    cb.on_open = [this]() { call(on_open_, {}); };
    cb.on_message = [this](std::string_view text) {
      Napi::HandleScope scope(Env());
      call(on_message_, {Napi::String::New(Env(), text.data(), text.size())});
    };
    cb.on_close = [this](int code, int http_status) {
      Napi::HandleScope scope(Env());
      call(on_close_, {Napi::Number::New(Env(), code), Napi::Number::New(Env(), http_status)});
      Unref();  // the socket no longer needs to outlive its JS object
    };
    const std::string error = client_.open(loop, url, std::move(cb));
    if (!error.empty()) throw Napi::Error::New(env, "chatwire: cannot open " + url + ": " + error);
    Ref();  // alive while the socket may still call back
  }

 private:
  void call(Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    Napi::HandleScope scope(Env());
    try {
      fn.MakeCallback(Value(), args, async_context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(Env(), e.Value());
    }
  }

  Napi::Value send(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), client_.send(string_arg(info, 0, "text")));
  }
  Napi::Value close(const Napi::CallbackInfo& info) {
    const int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1000;
    client_.close(code, optional_string_arg(info, 1));
    return info.Env().Undefined();
  }
  // Closes the socket and frees it on the loop; no callback after this.
  Napi::Value destroy(const Napi::CallbackInfo& info) {
    client_.shutdown([]() {});
    return info.Env().Undefined();
  }

  WsClient client_;
  Napi::AsyncContext async_context_;
  Napi::FunctionReference on_open_, on_message_, on_close_;
};

Napi::Object init_client(Napi::Env env, Napi::Object exports) {
  exports.Set("ClientSessionNative", ClientSessionNative::define(env));
  exports.Set("SocketNative", SocketNative::define(env));
  return exports;
}

}  // namespace chatwire::node
