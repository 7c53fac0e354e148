// The platform CSPRNG for the Node addon: getrandom(2), the same source as
// Node's crypto.randomBytes.
#ifndef CHATWIRE_NODE_ENTROPY_H_
#define CHATWIRE_NODE_ENTROPY_H_

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

#include "core/protocol/ids.h"

namespace chatwire::node {

class SystemEntropy final : public Entropy {
 public:
  void fill(uint8_t* out, size_t n) override {
    while (n > 0) {
      const ssize_t got = getrandom(out, n, 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        std::abort();  // no randomness means no safe ids or tickets: never go on without
      }
      out += got;
      n -= static_cast<size_t>(got);
    }
  }
};

}  // namespace chatwire::node

#endif  // CHATWIRE_NODE_ENTROPY_H_
