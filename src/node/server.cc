// ChatServer's native half: libwebsockets (lws_transport) on Node's loop,
// feeding the core's ServerHub and Gate, and handing application events to JS.
//
// After every input (a socket event, a timer, a command from JS) pump()
// drains the hub: frames to the transport, closes to the transport, events to
// JS in one batch, then re-arms the timer at poll_timeout(). The binding
// decides nothing; it reads the clock and moves bytes.
//
// Group commit and checkpoints are the core's CommitScheduler
// (src/core/server/commit_scheduler.h): the binding calls it from its loop
// hooks (before every input, the check phase, a worker's checkpoint round
// ending, its timer) and carries out what it decides: frames and closes to
// the transport, events to JS once their group is committed, checkpoint
// rounds on a libuv worker, an idle handle while the loop must not block.
// Reply.respond() resolves only once its group is committed: stored() gives JS
// the open group's number, and after that group's commit onStored({group, ok})
// tells JS (one call per group that has a waiter, not one per reply). The
// store is opened by the core (open_server_hub) and reached only through the
// hub.
#include <napi.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/api/facade.h"
#include "core/server/gate.h"
#include "core/server/server_config.h"
#include "core/server/commit_scheduler.h"
#include "core/server/server_hub.h"
#include "node/conversions.h"
#include "node/entropy.h"
#include "node/transport.h"

namespace chatwire::node {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <class T>
Napi::Value result_value(Napi::Env env, const Result<T>& r) {
  if (!r) return from_json(env, api::error_json(r.error()));
  auto out = Napi::Object::New(env);
  out.Set("ok", true);
  if constexpr (std::is_same_v<T, bool>) {
    out.Set("value", r.value());
  } else if constexpr (std::is_same_v<T, std::string>) {
    out.Set("value", Napi::String::New(env, r.value()));
  } else {
    out.Set("value", Napi::Number::New(env, static_cast<double>(r.value())));
  }
  return out;
}

}  // namespace

class ServerNative : public Napi::ObjectWrap<ServerNative> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "ServerNative",
                       {
                           InstanceMethod<&ServerNative::listen>("listen"),
                           InstanceMethod<&ServerNative::port>("port"),
                           InstanceMethod<&ServerNative::image_status>("imageStatus"),
                           InstanceMethod<&ServerNative::thinking>("thinking"),
                           InstanceMethod<&ServerNative::delta>("delta"),
                           InstanceMethod<&ServerNative::typing>("typing"),
                           InstanceMethod<&ServerNative::component>("component"),
                           InstanceMethod<&ServerNative::tool_call>("toolCall"),
                           InstanceMethod<&ServerNative::respond>("respond"),
                           InstanceMethod<&ServerNative::fail>("fail"),
                           InstanceMethod<&ServerNative::broadcast>("broadcast"),
                           InstanceMethod<&ServerNative::turn_history>("turnHistory"),
                           InstanceMethod<&ServerNative::set_title>("setTitle"),
                           InstanceMethod<&ServerNative::list_conversations>("listConversations"),
                           InstanceMethod<&ServerNative::delete_conversation>("deleteConversation"),
                           InstanceMethod<&ServerNative::image_bytes>("imageBytes"),
                           InstanceMethod<&ServerNative::ticket_response>("ticketResponse"),
                           InstanceMethod<&ServerNative::connection_count>("connectionCount"),
                           InstanceMethod<&ServerNative::close>("close"),
                           InstanceMethod<&ServerNative::stored>("stored"),
                       });
  }

  // new ServerNative(optionsJson, onEvents(events[]), onTicketRequest(request))
  explicit ServerNative(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ServerNative>(info), async_context_(info.Env(), "chatwire:ChatServer") {
    Napi::Env env = info.Env();
    auto config = server::parse_server_config(string_arg(info, 0, "options"));
    if (!config) throw Napi::TypeError::New(env, config.error().message);
    config_ = std::move(*config);
    if (info.Length() < 4 || !info[1].IsFunction() || !info[2].IsFunction() || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env, "onEvents, onTicketRequest and onStored must be functions");
    }
    on_stored_ = Napi::Persistent(info[3].As<Napi::Function>());
    on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_ticket_ = Napi::Persistent(info[2].As<Napi::Function>());
    // Opening also checks the file (quick_check and a test write): a corrupt
    // or read-only database fails listen() here, naming the file (issue 14.8).
    auto hub = server::open_server_hub(config_, entropy_);
    if (!hub) throw Napi::Error::New(env, "chatwire: cannot use the database: " + hub.error().message);
    hub_ = std::move(*hub);
    scheduler_ = std::make_unique<server::CommitScheduler>(*hub_);
    gate_ = std::make_unique<server::Gate>(config_.gate);
  }

  ~ServerNative() override { release_handles(); }

 private:
  // ------------------------------------------------------------ JS methods

  Napi::Value listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!hub_) throw Napi::TypeError::New(env, "ChatServer is closed");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    loop_ = loop;
    timer_ = new uv_timer_t;
    uv_timer_init(loop, timer_);
    timer_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));  // the listening socket keeps Node alive, not the timer
    check_ = new uv_check_t;
    uv_check_init(loop, check_);
    check_->data = this;
    uv_check_start(check_, [](uv_check_t* h) {
      if (h->data) static_cast<ServerNative*>(h->data)->on_check();
    });
    uv_unref(reinterpret_cast<uv_handle_t*>(check_));
    idle_ = new uv_idle_t;
    uv_idle_init(loop, idle_);
    idle_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(idle_));  // a started idle handle still makes poll not block
    catchup_timer_ = new uv_timer_t;
    uv_timer_init(loop, catchup_timer_);
    catchup_timer_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(catchup_timer_));
    scheduler_->start();

    WsServer::Options options;
    options.host = config_.host;
    options.port = config_.port;
    options.ws_path = config_.path;
    options.max_frame_bytes = config_.hub.limits.max_frame_bytes;
    WsServer::Callbacks cb;
    cb.on_handshake = [this](const Handshake& h, uint64_t* token) {
      auto d = gate_->handshake(now_ms(), h.query, h.origin, h.peer_ip);
      if (d.status) return d.status;
      *token = ++next_token_;
      pending_users_[*token] = std::move(d.user_id);
      return 0;
    };
    cb.on_open = [this](uint64_t conn, uint64_t token, const std::string& ip) {
      std::string user;
      if (auto it = pending_users_.find(token); it != pending_users_.end()) {
        user = std::move(it->second);
        pending_users_.erase(it);
      }
      gate_->opened(ip);
      peer_ips_[conn] = ip;
      before_input();
      hub_->handle_open(now_ms(), conn, std::move(user), ip);
      pump();
    };
    cb.on_message = [this](uint64_t conn, std::string_view text) {
      before_input();
      hub_->handle_frame(now_ms(), conn, text);
      pump();
    };
    cb.on_close = [this](uint64_t conn, int code) {
      if (auto it = peer_ips_.find(conn); it != peer_ips_.end()) {
        gate_->closed(it->second);
        peer_ips_.erase(it);
      }
      if (hub_) {
        before_input();
        hub_->handle_close(now_ms(), conn, code);
        pump();
      }
    };
    cb.on_http = [this](HttpRequest req, HttpResponder respond) { on_http(std::move(req), std::move(respond)); };
    cb.origin_allowed = [this](const std::string& origin) { return gate_->origin_allowed(origin); };
    cb.on_exception = [this](std::exception_ptr e) { report(e); };
    const std::string error = ws_.listen(loop, options, std::move(cb));
    if (!error.empty()) return Napi::String::New(env, error);
    pump();
    return Napi::String::New(env, "");
  }

  Napi::Value port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ws_.port()); }

  Napi::Value image_status(const Napi::CallbackInfo& info) {
    auto r = hub().image_status(now_ms(), string_arg(info, 0, "turnId"), string_arg(info, 1, "imageId"),
                                string_arg(info, 2, "status"));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value thinking(const Napi::CallbackInfo& info) {
    auto r = hub().thinking(now_ms(), string_arg(info, 0, "turnId"), string_arg(info, 1, "step"));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value delta(const Napi::CallbackInfo& info) {
    auto r = hub().delta(now_ms(), string_arg(info, 0, "turnId"), string_arg(info, 1, "text"));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value typing(const Napi::CallbackInfo& info) {
    const bool on = info.Length() > 1 && info[1].ToBoolean().Value();
    auto r = hub().typing(now_ms(), string_arg(info, 0, "turnId"), on);
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value component(const Napi::CallbackInfo& info) {
    auto r = hub().component(now_ms(), string_arg(info, 0, "turnId"), string_arg(info, 1, "kind"),
                             optional_string_arg(info, 2));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value tool_call(const Napi::CallbackInfo& info) {
    auto r = hub().tool_call(now_ms(), string_arg(info, 0, "turnId"), string_arg(info, 1, "name"),
                             optional_string_arg(info, 2));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value respond(const Napi::CallbackInfo& info) {
    auto r = hub().respond(now_ms(), string_arg(info, 0, "turnId"), optional_string_arg(info, 1));
    pump();
    return result_value(info.Env(), r);
  }

  // 0 when everything done so far is already committed (no group is open);
  // else the open group's number, whose commit onStored will report.
  Napi::Value stored(const Napi::CallbackInfo& info) {
    const uint64_t group = scheduler_ ? scheduler_->wait_for_commit() : 0;
    return Napi::Number::New(info.Env(), static_cast<double>(group));
  }

  Napi::Value fail(const Napi::CallbackInfo& info) {
    auto code = error_code_from_name(string_arg(info, 1, "code"));
    if (!code) throw Napi::TypeError::New(info.Env(), "code must be one of PROTOCOL.md's error codes");
    auto r = hub().fail(now_ms(), string_arg(info, 0, "turnId"), *code, string_arg(info, 2, "message"));
    pump();
    return result_value(info.Env(), r);
  }

  // Version 1.1 (issue 17): the core decides; these translate.
  Napi::Value turn_history(const Napi::CallbackInfo& info) {
    std::optional<int64_t> limit;
    if (info.Length() > 1 && info[1].IsNumber()) limit = info[1].As<Napi::Number>().Int64Value();
    return result_value(info.Env(), hub().turn_history(string_arg(info, 0, "turnId"), limit));
  }

  Napi::Value set_title(const Napi::CallbackInfo& info) {
    auto r = hub().set_title(now_ms(), string_arg(info, 0, "turnId"), string_arg(info, 1, "title"));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value list_conversations(const Napi::CallbackInfo& info) {
    const int limit = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 20;
    return result_value(info.Env(), hub().list_conversations(string_arg(info, 0, "owner"), limit,
                                                             optional_string_arg(info, 2)));
  }

  Napi::Value delete_conversation(const Napi::CallbackInfo& info) {
    auto r = hub().delete_conversation(now_ms(), string_arg(info, 0, "conversationId"));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value broadcast(const Napi::CallbackInfo& info) {
    auto r = hub().broadcast(now_ms(), string_arg(info, 0, "target"), string_arg(info, 1, "event"));
    pump();
    return result_value(info.Env(), r);
  }

  Napi::Value image_bytes(const Napi::CallbackInfo& info) {
    const std::string* bytes = hub().image_bytes(string_arg(info, 0, "turnId"), string_arg(info, 1, "imageId"));
    if (!bytes) return info.Env().Undefined();
    return bytes_value(info.Env(), *bytes);
  }

  Napi::Value ticket_response(const Napi::CallbackInfo& info) {
    const uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    auto it = pending_http_.find(id);
    if (it == pending_http_.end()) return info.Env().Undefined();
    HttpResponder respond = std::move(it->second);
    pending_http_.erase(it);
    std::optional<std::string> user;
    if (info.Length() > 1 && info[1].IsString()) user = info[1].As<Napi::String>().Utf8Value();
    auto answer = gate_->ticket_answer(user, now_ms(), entropy_);
    respond(HttpResponse{answer.status, "application/json", std::move(answer.body)});
    return info.Env().Undefined();
  }

  Napi::Value connection_count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(ws_.connection_count()));
  }

  // Ends running turns, closes every socket (1001), destroys lws (both phases),
  // closes the database; the promise resolves when nothing is left on the loop.
  Napi::Value close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
    if (!hub_ || closing_) {
      deferred->Resolve(env.Undefined());
      return deferred->Promise();
    }
    closing_ = true;
    scheduler_->stop_checkpoints();
    before_input();
    hub_->shutdown(now_ms());
    pump();
    flush_group();  // the closes go out before the transport shuts down
    for (auto& [id, respond] : pending_http_) {
      respond(HttpResponse{503, "application/json", "{\"error\":\"server closing\"}"});
    }
    pending_http_.clear();
    Ref();  // keep this object alive until lws is gone
    ws_.shutdown([this, deferred]() {
      // A checkpoint still running on a worker finishes first (it ends the
      // file's WAL use cleanly); after_checkpoint() calls this again.
      finish_close_ = [this, deferred]() {
        Napi::Env env = Env();
        Napi::HandleScope scope(env);
        flush_group();  // e.g. the closes recorded while lws shut the sockets down
        release_handles();
        scheduler_.reset();
        hub_.reset();  // and its store
        {
          Napi::CallbackScope cb_scope(env, async_context_);
          deferred->Resolve(env.Undefined());
        }
        Unref();
      };
      if (!scheduler_->checkpoint_running()) {
        auto done = std::move(finish_close_);
        finish_close_ = nullptr;
        done();
      }
    });
    return deferred->Promise();
  }

  // ------------------------------------------------------------ checkpoints
  // The scheduler decides when; a round runs on a libuv worker (the job
  // touches only its own connection), one at a time; close() waits for it.

  void start_checkpoints() {
    if (!scheduler_ || !loop_) return;
    auto job = scheduler_->poll_checkpoint_job();
    if (!job) return;
    auto* work = new CheckpointWork;
    work->req.data = work;
    work->self = this;
    work->job = std::move(job);
    Ref();  // alive until after_checkpoint
    uv_queue_work(
        loop_, &work->req,
        [](uv_work_t* req) {
          auto* w = static_cast<CheckpointWork*>(req->data);
          auto r = w->job();
          if (r) w->frames = *r;
          else w->error = r.error().message;
        },
        [](uv_work_t* req, int) {
          std::unique_ptr<CheckpointWork> w(static_cast<CheckpointWork*>(req->data));
          w->self->after_checkpoint(w->frames, w->error);
        });
  }

  void after_checkpoint(int64_t frames, const std::string& error) {
    if (!error.empty()) fprintf(stderr, "chatwire ChatServer: %s\n", error.c_str());
    if (scheduler_) scheduler_->handle_checkpoint_done(now_ms(), frames);
    if (finish_close_) {
      auto done = std::move(finish_close_);
      finish_close_ = nullptr;
      done();
    } else {
      sync_loop_handles();
    }
    Unref();
  }

  struct CheckpointWork {
    uv_work_t req;
    ServerNative* self = nullptr;
    store::EventStore::BackgroundJob job;  // runs on the worker
    int64_t frames = 0;
    std::string error;
  };

  // ------------------------------------------------------------ plumbing

  server::ServerHub& hub() {
    if (!hub_ || closing_) throw Napi::TypeError::New(Env(), "ChatServer is closed");
    before_input();
    return *hub_;
  }

  void on_http(HttpRequest req, HttpResponder respond) {
    auto route = gate_->route(req.method, req.path, hub_ ? hub_->store_health().reason : std::string());
    if (!route.needs_authentication) {
      respond(HttpResponse{route.answer.status, "application/json", std::move(route.answer.body)});
      return;
    }
    const uint64_t id = ++next_http_;
    pending_http_[id] = std::move(respond);
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    auto request = Napi::Object::New(env);
    request.Set("id", Napi::Number::New(env, static_cast<double>(id)));
    request.Set("method", req.method);
    request.Set("path", req.path);
    request.Set("body", req.body);
    auto headers = Napi::Object::New(env);
    for (const auto& [k, v] : req.headers) headers.Set(k, v);
    request.Set("headers", headers);
    call_js(on_ticket_, request);
  }

  // Moves the hub's outputs into the scheduler; they leave (frames and
  // closes to the transport, events to JS in one batch) once the open group
  // is committed, right away when there is none.
  void pump() {
    if (!hub_) return;
    scheduler_->collect();
    arm_timer();
    if (!scheduler_->group_open()) release_outputs();
  }

  // Every input of this iteration is in (or the server closes): commit the
  // open group and release what the scheduler lets out.
  void flush_group() {
    if (!scheduler_) return;
    auto committed = scheduler_->commit(now_ms());
    if (!committed.checkpoint_error.empty()) {
      fprintf(stderr, "chatwire ChatServer: %s\n", committed.checkpoint_error.c_str());
    }
    arm_timer();
    release_outputs();
    if (committed.waiter != 0) {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      auto done = Napi::Object::New(env);
      done.Set("group", static_cast<double>(committed.waiter));
      done.Set("ok", committed.ok);
      call_js(on_stored_, done);
    }
  }

  void before_input() {
    if (!scheduler_ || !idle_) return;  // groups only once listen() runs the loop hooks
    scheduler_->before_input();
    sync_loop_handles();
  }

  void release_outputs() {
    if (!scheduler_) return;
    while (auto o = scheduler_->poll_output()) {
      if (o->close_code) ws_.close(o->conn, o->close_code, std::move(o->text));
      else ws_.send(o->conn, std::move(o->text));
    }
    std::string batch = scheduler_->take_events();
    if (!batch.empty()) {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      call_js(on_events_, from_json(env, batch));  // may run commands: a new group holds their outputs
    }
    start_checkpoints();
    sync_loop_handles();
  }

  // The idle handle keeps poll from blocking while the scheduler waits for
  // the check phase; the catch-up timer follows its poll_timeout().
  void sync_loop_handles() {
    if (!scheduler_) return;
    if (idle_) {
      if (scheduler_->wants_idle()) uv_idle_start(idle_, [](uv_idle_t*) {});
      else uv_idle_stop(idle_);
    }
    if (!catchup_timer_) return;
    auto at = scheduler_->poll_timeout();
    if (!at) {
      uv_timer_stop(catchup_timer_);
      return;
    }
    uv_timer_start(
        catchup_timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<ServerNative*>(t->data);
          if (!self || !self->scheduler_ || self->closing_) return;
          self->scheduler_->handle_timeout(now_ms());
          self->start_checkpoints();
          self->sync_loop_handles();
        },
        static_cast<uint64_t>(std::max<int64_t>(0, *at - now_ms())), 0);
  }

  // The loop's check phase: every input of this iteration is in; commit.
  // Releasing the events runs the application's handlers, whose replies open
  // a new group: committed here too (a few rounds at most), so a turn whose
  // handler answers at once leaves in this iteration, not the next.
  void on_check() {
    if (!scheduler_ || !scheduler_->wants_idle()) return;
    int round = 0;
    do {
      flush_group();
    } while (scheduler_ && scheduler_->group_open() && ++round < server::CommitScheduler::kCommitRounds);
  }

  // Calls into JS as Node's own callbacks do (MakeCallback), so promise jobs
  // and nextTicks queued by the handler run right after it.
  void call_js(Napi::FunctionReference& fn, Napi::Value arg) {
    try {
      fn.MakeCallback(Value(), {arg}, async_context_);
    } catch (const Napi::Error& e) {
      // An exception out of our own JS wrapper is a bug there: surface it as
      // Node surfaces any uncaught exception.
      napi_fatal_exception(Env(), e.Value());
    }
  }

  void arm_timer() {
    if (!timer_ || !hub_) return;
    auto deadline = hub_->poll_timeout();
    if (!deadline) {
      uv_timer_stop(timer_);
      return;
    }
    const int64_t wait = std::max<int64_t>(0, *deadline - now_ms());
    uv_timer_start(
        timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<ServerNative*>(t->data);
          if (!self->hub_) return;
          self->before_input();
          self->hub_->handle_timeout(now_ms());
          self->pump();
        },
        static_cast<uint64_t>(wait), 0);
  }

  void release_handles() {
    if (timer_) {
      uv_timer_stop(timer_);
      timer_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer_ = nullptr;
    }
    if (check_) {
      uv_check_stop(check_);
      check_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(check_), [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
      check_ = nullptr;
    }
    if (idle_) {
      uv_idle_stop(idle_);
      idle_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(idle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
      idle_ = nullptr;
    }
    if (catchup_timer_) {
      uv_timer_stop(catchup_timer_);
      catchup_timer_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(catchup_timer_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      catchup_timer_ = nullptr;
    }
  }

  void report(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      fprintf(stderr, "chatwire ChatServer: %s\n", ex.what());
    } catch (...) {
      fprintf(stderr, "chatwire ChatServer: unknown exception in a socket callback\n");
    }
  }

  server::ServerConfig config_;
  SystemEntropy entropy_;
  std::unique_ptr<server::ServerHub> hub_;  // owns the store
  std::unique_ptr<server::CommitScheduler> scheduler_;
  std::unique_ptr<server::Gate> gate_;
  WsServer ws_;
  Napi::AsyncContext async_context_;
  Napi::FunctionReference on_events_;
  Napi::FunctionReference on_ticket_;
  Napi::FunctionReference on_stored_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  uv_check_t* check_ = nullptr;
  uv_idle_t* idle_ = nullptr;
  uv_timer_t* catchup_timer_ = nullptr;
  bool closing_ = false;
  std::function<void()> finish_close_;  // close()'s last step, deferred while a checkpoint runs
  uint64_t next_token_ = 0;
  uint64_t next_http_ = 0;
  std::unordered_map<uint64_t, std::string> pending_users_;
  std::unordered_map<uint64_t, std::string> peer_ips_;
  std::unordered_map<uint64_t, HttpResponder> pending_http_;
};

Napi::Object init_server(Napi::Env env, Napi::Object exports) {
  exports.Set("ServerNative", ServerNative::define(env));
  return exports;
}

}  // namespace chatwire::node
