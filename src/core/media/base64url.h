// Unpadded base64url (RFC 4648 section 5: '-' and '_', no '='), for the
// server's own tokens: tickets and fallback stream ids. Not the wire's image
// encoding (that is base64.h: standard alphabet, padding required).
#ifndef CHATWIRE_CORE_MEDIA_BASE64URL_H_
#define CHATWIRE_CORE_MEDIA_BASE64URL_H_

#include <string>
#include <string_view>

namespace chatwire::media {

// The bytes of `in` as unpadded base64url (ceil(4n/3) characters).
std::string base64url_encode(std::string_view in);

// Strict: only the alphabet, no length of 1 mod 4, zero unused bits, so every
// byte string has exactly one accepted text. False (and *out unspecified)
// otherwise.
bool base64url_decode(std::string_view in, std::string* out);

}  // namespace chatwire::media

#endif  // CHATWIRE_CORE_MEDIA_BASE64URL_H_
