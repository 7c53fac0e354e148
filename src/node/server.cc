// ChatServer native: filled in by the server issue (libwebsockets + ServerHub).
#include <napi.h>

namespace chatwire::node {
Napi::Object init_server(Napi::Env env, Napi::Object exports) { return exports; }
}  // namespace chatwire::node
