// Macro hygiene: each BBX_* call is one statement, checks its level before evaluating any
// argument, and takes its tag from BBX_TAG (macro_tag_test.cpp defines another one).
#include <gtest/gtest.h>

#include "blackbox/blackbox.hpp"
#include "support/test_env.hpp"

void log_from_net_translation_unit(int value);  // macro_tag_test.cpp

namespace {

int side_effects = 0;
int touch() { return ++side_effects; }

TEST(MacroTest, IsASingleStatementAfterAnUnbracedIf) {
  bool took_else = false;
  for (int i = 0; i < 2; ++i) {
    if (i == 0)
      BBX_INFO("then branch {}", i);
    else
      took_else = true;
  }
  EXPECT_TRUE(took_else);
  // A dangling else binds to our if, not to one hidden inside the macro.
  if (false)
    BBX_INFO("never");
  else
    took_else = false;
  EXPECT_FALSE(took_else);
}

TEST(MacroTest, DisabledLevelEvaluatesNoArgument) {
  side_effects = 0;
  blackbox::set_level(blackbox::Level::info);
  BBX_DEBUG("not evaluated {}", touch());
  BBX_TRACE("not evaluated {} {}", touch(), touch());
  EXPECT_EQ(side_effects, 0);
  BBX_INFO("evaluated once {}", touch());
  EXPECT_EQ(side_effects, 1);
}

TEST(MacroTest, TagComesFromBbxTagOfTheTranslationUnit) {
  BBX_WARN("default tag {}", 1);
  log_from_net_translation_unit(2);
  BBX_LOG("explicit", blackbox::Level::error, "explicit tag {}", 3);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& r : blackbox::test::read_own_ring()) {
    if (r.message.find(" tag ") != std::string::npos)
      got.emplace_back(std::string(r.tag), r.message);
  }
  const std::vector<std::pair<std::string, std::string>> want = {
      {"main", "default tag 1"}, {"net", "net tag 2"}, {"explicit", "explicit tag 3"}};
  EXPECT_EQ(got, want);
}

TEST(MacroTest, NamesDoNotLeakOrCollide) {
  // User names the macro could capture if it were careless; two calls on one line.
  const int site = 7, info = 1, level = 2, tag = 3;
  BBX_INFO("a {}", site + info);
  BBX_INFO("b {}", level + tag);
  std::vector<blackbox::Record> records;
  for (auto& r : blackbox::test::read_own_ring()) {
    if (r.message_template == "a {}" || r.message_template == "b {}") records.push_back(r);
  }
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].message, "a 8");
  EXPECT_EQ(records[1].message, "b 5");
  EXPECT_NE(records[0].message_template, records[1].message_template);
}

}  // namespace
