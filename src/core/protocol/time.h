// Timestamps as the protocol writes them: ISO 8601 UTC with milliseconds,
// e.g. "2026-11-23T13:47:50.123Z". The core never reads a clock; callers pass
// the time (milliseconds since the Unix epoch) in.
#ifndef CHATWIRE_CORE_PROTOCOL_TIME_H_
#define CHATWIRE_CORE_PROTOCOL_TIME_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chatwire {

// "YYYY-MM-DDTHH:MM:SS.mmmZ" for a time in ms since the epoch (years 0000-9999).
std::string format_timestamp(int64_t unix_ms);

// Parses an ISO 8601 date-time: date 'T' time, optional fraction (any number
// of digits, kept to ms), and 'Z' or a +HH:MM / -HH:MM offset. Returns ms since
// the epoch, or nullopt if the text is not such a timestamp.
std::optional<int64_t> parse_timestamp(std::string_view text);

}  // namespace chatwire

#endif  // CHATWIRE_CORE_PROTOCOL_TIME_H_
