#include "core/protocol/field_table.h"

namespace chatwire::protocol::internal {

namespace {

std::vector<std::string_view> split(std::string_view words) {
  std::vector<std::string_view> out;
  while (!words.empty()) {
    const size_t space = words.find(' ');
    out.push_back(words.substr(0, space));
    words = space == std::string_view::npos ? std::string_view() : words.substr(space + 1);
  }
  return out;
}

}  // namespace

std::string choice_list(std::string_view words) {
  const auto all = split(words);
  std::string out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i) out += i + 1 == all.size() ? " or " : ", ";
    out += all[i];
  }
  return out;
}

bool is_choice(std::string_view words, std::string_view value) {
  for (auto w : split(words)) {
    if (w == value) return true;
  }
  return false;
}

}  // namespace chatwire::protocol::internal
