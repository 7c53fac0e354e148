// ChatServer's options as the Node binding exposes them to JS (a file of its
// own: the server's core is not in the browser build, scripts/sources.mjs).
#ifndef CHATWIRE_CORE_API_SERVER_OPTIONS_H_
#define CHATWIRE_CORE_API_SERVER_OPTIONS_H_

#include <string>
#include <string_view>

namespace chatwire::api {

// The core's reading of ChatServer's options (the JSON js/server.mjs passes
// to ServerNative), asked by the constructor before anything is opened:
// {"ok":true,"value":{server::server_config_json: every option with its value
// or default, the tool-call timeout and the turn-end policy}} or
// {"ok":false,"error":{...}} naming the option, its range and the value given.
std::string server_options_json(std::string_view options_json);

}  // namespace chatwire::api

#endif  // CHATWIRE_CORE_API_SERVER_OPTIONS_H_
