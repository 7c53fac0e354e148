// InProcessFanout: see fanout.h.
#include "core/server/fanout.h"

#include <algorithm>

namespace chatwire::server {

void InProcessFanout::subscribe(const std::string& conversation_id, ConnId conn) {
  auto& v = subscribers_[conversation_id];
  if (std::find(v.begin(), v.end(), conn) == v.end()) v.push_back(conn);
}

void InProcessFanout::unsubscribe(const std::string& conversation_id, ConnId conn) {
  auto it = subscribers_.find(conversation_id);
  if (it == subscribers_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), conn), v.end());
  if (v.empty()) subscribers_.erase(it);
}

bool InProcessFanout::has_local_subscribers(const std::string& conversation_id) const {
  return subscribers_.count(conversation_id) != 0;
}

size_t InProcessFanout::publish(const std::string& conversation_id, const std::string& text) {
  auto it = subscribers_.find(conversation_id);
  if (it == subscribers_.end() || !sink_) return 0;
  size_t n = 0;
  for (ConnId id : it->second) {
    if (sink_(id, text)) ++n;
  }
  return n;
}

}  // namespace chatwire::server
