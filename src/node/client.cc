// ChatClient native: filled in by the client issue (libwebsockets + ClientEngine).
#include <napi.h>

namespace chatwire::node {
Napi::Object init_client(Napi::Env env, Napi::Object exports) { return exports; }
}  // namespace chatwire::node
