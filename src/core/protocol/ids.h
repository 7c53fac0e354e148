// Identifiers: UUID v4 from an injected entropy source. The core never calls
// rand() or reads the OS; each build supplies the platform CSPRNG (getrandom in
// the Node addon, crypto.getRandomValues through getentropy in WASM).
#ifndef CHATWIRE_CORE_PROTOCOL_IDS_H_
#define CHATWIRE_CORE_PROTOCOL_IDS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chatwire {

// A source of cryptographically secure random bytes.
class Entropy {
 public:
  virtual ~Entropy() = default;
  // Fills `out` with `n` random bytes.
  virtual void fill(uint8_t* out, size_t n) = 0;
};

// A random UUID v4, lowercase, e.g. "3f0c6d0e-8a4b-4c1e-9d2f-0b6a1e2c3d4f".
std::string uuid_v4(Entropy& entropy);

// True for the canonical 8-4-4-4-12 hex form (any version).
bool is_uuid(std::string_view text);

// A uniformly random double in [0, 1) (jitter).
double random_unit(Entropy& entropy);

// `n` random bytes as lowercase hex (nonces).
std::string random_hex(Entropy& entropy, size_t n);

}  // namespace chatwire

#endif  // CHATWIRE_CORE_PROTOCOL_IDS_H_
