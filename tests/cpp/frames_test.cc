// The frame table (core/protocol/frames.h) against what the codec does: every
// valid frame of the shared case file encodes its fields in its row's order,
// and what a row says about seq matches seq_of on the decoded frame.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/protocol/codec.h"
#include "core/protocol/frames.h"

namespace chatwire::protocol {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> words(const char* text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The keys of an encoded frame after "type" appear in the row's field list,
// in that order; "type" comes first and is the row's type.
void expect_row_order(const std::string& encoded, const FrameInfo& row, const std::string& name) {
  rapidjson::Document doc;
  doc.Parse(encoded.c_str());
  ASSERT_TRUE(doc.IsObject()) << name;
  auto it = doc.MemberBegin();
  ASSERT_STREQ(it->name.GetString(), "type") << name;
  EXPECT_STREQ(it->value.GetString(), row.type) << name;
  const auto fields = words(row.fields);
  size_t pos = 0;
  for (++it; it != doc.MemberEnd(); ++it) {
    const std::string key = it->name.GetString();
    while (pos < fields.size() && fields[pos] != key) ++pos;
    ASSERT_LT(pos, fields.size()) << name << ": '" << key << "' out of the row's order (" << row.fields << ") in "
                                  << encoded;
    ++pos;
  }
}

TEST(FrameTable, EncodedFieldsFollowTheRowsAndSeqFollowsTheRule) {
  const std::string text = read_file(std::string(CHATWIRE_FIXTURES) + "/codec-cases.json");
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError());
  size_t checked = 0;
  for (const auto& c : doc["cases"].GetArray()) {
    if (!c["expect"]["ok"].GetBool()) continue;
    const std::string name = c["name"].GetString();
    const std::string frame(c["text"].GetString(), c["text"].GetStringLength());
    auto limits = parse_limits(c.HasMember("limits") ? to_json_text(c["limits"]) : "");
    ASSERT_TRUE(limits) << name;
    if (std::string(c["direction"].GetString()) == "client") {
      auto decoded = decode_client_frame(frame, *limits);
      ASSERT_TRUE(decoded) << name;
      expect_row_order(encode(*decoded), frame_info(*decoded), name);
    } else {
      auto decoded = decode_server_frame(frame, *limits);
      ASSERT_TRUE(decoded) << name;
      const FrameInfo& row = frame_info(*decoded);
      expect_row_order(encode(*decoded), row, name);
      const bool has_seq = seq_of(*decoded).has_value();
      if (row.seq == SeqRule::none) EXPECT_FALSE(has_seq) << name;
      if (row.seq == SeqRule::always) EXPECT_TRUE(has_seq) << name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 20u);
}

TEST(FrameTable, EveryRowIsFoundByItsWireType) {
  for (auto direction : {Direction::client_to_server, Direction::server_to_client}) {
    for (size_t i = 0; i < frame_count(direction); ++i) {
      const FrameInfo& row = frame_info_at(direction, i);
      const FrameInfo* found = direction == Direction::client_to_server ? client_frame_info(row.type)
                                                                        : server_frame_info(row.type);
      EXPECT_EQ(found, &row) << row.type;
    }
  }
  EXPECT_EQ(server_frame_info("message"), nullptr);  // a client frame type only
  EXPECT_EQ(client_frame_info("confirm"), nullptr);
  EXPECT_TRUE(server_frame_info("tool_call")->stored);
  EXPECT_FALSE(server_frame_info("delta")->stored);
  EXPECT_FALSE(server_frame_info("history")->broadcastable);
}

}  // namespace
}  // namespace chatwire::protocol
