// The client engine and its store behind one string-in/string-out object, as
// both bindings expose it to JS (the addon with node-addon-api, the browser
// build with embind). The JS ChatClient (js/internal/client.mjs) is the one
// pump for both builds: it feeds transport events and commands in, then calls
// drain() and carries out what comes back. No rule lives in the bindings or JS.
#ifndef CHATWIRE_CORE_API_CLIENT_SESSION_H_
#define CHATWIRE_CORE_API_CLIENT_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "core/client/client_engine.h"
#include "core/protocol/ids.h"
#include "core/store/client_store.h"

namespace chatwire::api {

class ClientSession {
 public:
  explicit ClientSession(std::unique_ptr<Entropy> entropy);
  ~ClientSession();

  // Opens the store at `storage_path` (a file, or ":memory:"), restores the
  // engine from it and applies `config_json` (ChatClient options, camelCase).
  // Returns "" or an error result JSON ({"ok":false,"error":{...}}).
  std::string open(const std::string& config_json, const std::string& storage_path,
                   const std::string& journal_mode, double now);
  bool is_open() const { return engine_ != nullptr; }
  // Frees the engine and closes the store.
  void close();

  // ---- commands (see ClientEngine); results are {"ok":true,"value":...} or errors
  void connect(double now);
  void reconnect(double now);
  void disconnect(double now);
  void visibility_changed(double now, bool visible);
  void online(double now);
  // Images are staged one by one (stage_image) before the send that uses them,
  // in order, so bytes never pass through JSON.
  void stage_image(std::string bytes);
  std::string send(double now, const std::string& draft_json);
  std::string retry(double now, const std::string& message_id);
  std::string cancel(double now, const std::string& message_id);
  std::string submit_component(double now, const std::string& component_id, const std::string& action,
                               const std::string& values_json);
  std::string load_older(double now);
  void set_typing(double now, bool typing);
  void configure_tools(double now, const std::string& tools_json);
  void tool_result(double now, const std::string& tool_call_id, const std::string& result_json, bool is_error);

  // ---- transport inputs
  // `ticket` is ignored when `ok` is false (the ticket provider failed).
  void handle_ticket(double now, bool ok, const std::string& ticket);
  void handle_open(double now);
  void handle_frame(double now, const std::string& text);
  void handle_close(double now, int code, int http_status);
  void handle_timeout(double now);

  // Everything the engine asks for since the last drain, as JSON:
  // {"actions":[{"kind":"open","url"}|{"kind":"close","code"}|{"kind":"transmit","text"}|
  //   {"kind":"fetch_ticket"}|{"kind":"run_tool","toolCallId","name","arguments"}],
  //  "events":[...engine events...], "timeout": <ms since epoch>|null,
  //  "flush": <true when the store changed since the last drain>}
  std::string drain();

  // ---- queries
  std::string messages_json() const;
  std::string connection_json() const;
  std::string client_id() const;

 private:
  std::unique_ptr<Entropy> entropy_;
  std::unique_ptr<store::ClientStore> store_;
  std::unique_ptr<client::ClientEngine> engine_;
  std::vector<std::string> staged_;
};

}  // namespace chatwire::api

#endif  // CHATWIRE_CORE_API_CLIENT_SESSION_H_
