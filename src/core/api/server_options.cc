#include "core/api/server_options.h"

#include "core/api/facade.h"
#include "core/protocol/json.h"
#include "core/server/server_config.h"

namespace chatwire::api {

std::string server_options_json(std::string_view json) {
  auto config = server::parse_server_config(json);
  if (!config) return error_json(config.error());
  protocol::EventWriter w;
  w.boolean("ok", true).raw("value", server::server_config_json(*config));
  return w.done();
}

}  // namespace chatwire::api
