// The Fanout seam: who gets a conversation's frames. The ServerHub subscribes
// a connection to its conversation when its connect is accepted, unsubscribes
// it when the socket is gone, and publishes every frame meant for the
// conversation's connections (seq'd events after they are stored, deltas,
// typing, tools) once; the Fanout hands it to the sink for each subscribed
// connection. One implementation today, InProcessFanout (one process: a map
// from conversation to its connections). Issue 20 puts a Redis one behind the
// same interface (publish to a channel per conversation; each process's
// fanout delivers to its own subscribers through the sink); see
// docs/architecture.md.
//
// What every implementation promises:
//   - a frame published for a conversation reaches each connection subscribed
//     to it at the time of publish exactly once, frames of one conversation in
//     publish order (the client's seq order rests on it);
//   - a connection gets nothing after unsubscribe;
//   - the sink runs on the owner's loop thread, never inside subscribe.
// Not thread-safe: called from the hub's event loop only.
#ifndef CHATWIRE_CORE_SERVER_FANOUT_H_
#define CHATWIRE_CORE_SERVER_FANOUT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chatwire::server {

using ConnId = uint64_t;  // the transport's id of a socket

class Fanout {
 public:
  // Hands a frame to one local connection; false when it was not sent (the
  // connection is not open any more).
  using Sink = std::function<bool(ConnId conn, const std::string& text)>;

  virtual ~Fanout() = default;
  // The hub attaches its sink once, before the first subscribe.
  virtual void attach(Sink sink) = 0;
  virtual void subscribe(const std::string& conversation_id, ConnId conn) = 0;
  virtual void unsubscribe(const std::string& conversation_id, ConnId conn) = 0;
  // True while a connection of this process is subscribed to the conversation.
  virtual bool has_local_subscribers(const std::string& conversation_id) const = 0;
  // Delivers `text` to the conversation's subscribers; returns how many local
  // connections the sink sent it to.
  virtual size_t publish(const std::string& conversation_id, const std::string& text) = 0;
};

// Today's Fanout: every connection lives in this process.
class InProcessFanout final : public Fanout {
 public:
  void attach(Sink sink) override { sink_ = std::move(sink); }
  void subscribe(const std::string& conversation_id, ConnId conn) override;
  void unsubscribe(const std::string& conversation_id, ConnId conn) override;
  bool has_local_subscribers(const std::string& conversation_id) const override;
  size_t publish(const std::string& conversation_id, const std::string& text) override;

 private:
  Sink sink_;
  std::unordered_map<std::string, std::vector<ConnId>> subscribers_;  // in subscribe order
};

}  // namespace chatwire::server

#endif  // CHATWIRE_CORE_SERVER_FANOUT_H_
