// The poll_* pattern of the sans-I/O cores (ClientEngine, ServerHub): the
// oldest queued item, moved out, or nothing.
#ifndef CHATWIRE_CORE_PROTOCOL_QUEUE_H_
#define CHATWIRE_CORE_PROTOCOL_QUEUE_H_

#include <deque>
#include <optional>
#include <utility>

namespace chatwire {

template <class T>
std::optional<T> take_front(std::deque<T>& queue) {
  if (queue.empty()) return std::nullopt;
  std::optional<T> front(std::move(queue.front()));
  queue.pop_front();
  return front;
}

}  // namespace chatwire

#endif  // CHATWIRE_CORE_PROTOCOL_QUEUE_H_
