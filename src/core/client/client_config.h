// The ranges of ChatClient's options (DESIGN.md's `ChatClient.create(options)`):
// the defaults are ClientConfig's initialisers (client_engine.h), the ranges
// the one table in client_config.cc. ClientEngine::create refuses a config
// outside them, and the bindings' clientOptions() (api/facade.h) asks the same
// question before any store is opened, so JS checks only the types of what it
// passes (js/internal/client.mjs) and both builds refuse the same options with
// the same text.
#ifndef CHATWIRE_CORE_CLIENT_CLIENT_CONFIG_H_
#define CHATWIRE_CORE_CLIENT_CLIENT_CONFIG_H_

#include <optional>

#include "core/client/client_engine.h"
#include "core/protocol/errors.h"

namespace chatwire::client {

// nullopt when every field is in range; else invalid_field naming the first
// option outside it as JS spells it, its range and the value, e.g.
// "options.heartbeatMs must be an integer from 100 to 9007199254740991, got 50".
std::optional<Error> check_client_config(const ClientConfig& config);

}  // namespace chatwire::client

#endif  // CHATWIRE_CORE_CLIENT_CLIENT_CONFIG_H_
