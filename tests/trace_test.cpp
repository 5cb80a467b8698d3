// traceparent parsing and formatting (W3C Trace Context, level 1).
#include "blackbox/trace.hpp"

#include <gtest/gtest.h>

namespace {

using blackbox::TraceContext;

TEST(TraceTest, ParsesAndFormatsAValidHeader) {
  const std::string text = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  std::string error;
  const auto ctx = TraceContext::parse(text, &error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(ctx->trace_id[0], 0x0a);
  EXPECT_EQ(ctx->trace_id[15], 0x9c);
  EXPECT_EQ(ctx->span_id[0], 0xb7);
  EXPECT_EQ(ctx->span_id[7], 0x31);
  EXPECT_EQ(ctx->flags, 1);
  EXPECT_TRUE(ctx->valid());
  EXPECT_EQ(ctx->format(), text);
  EXPECT_EQ(ctx->trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(ctx->span_id_hex(), "b7ad6b7169203331");
}

TEST(TraceTest, AcceptsFutureVersionsWithExtraFields) {
  const auto ctx =
      TraceContext::parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->format(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

struct Malformed {
  const char* name;
  const char* text;
  const char* reason;  // a word the error message must contain
};

class TraceMalformedTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(TraceMalformedTest, IsRejectedWithAClearReason) {
  std::string error;
  EXPECT_FALSE(TraceContext::parse(GetParam().text, &error));
  EXPECT_NE(error.find(GetParam().reason), std::string::npos) << error;
  EXPECT_EQ(error.find("invalid traceparent: "), 0u) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, TraceMalformedTest,
    ::testing::Values(
        Malformed{"empty", "", "55 characters"},
        Malformed{"short", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "55 characters"},
        Malformed{"uppercase_trace_id", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                  "trace-id"},
        Malformed{"uppercase_parent_id", "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
                  "parent-id"},
        Malformed{"zero_trace_id", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                  "all zeros"},
        Malformed{"zero_parent_id", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                  "parent-id is all"},
        Malformed{"version_ff", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "ff"},
        Malformed{"bad_version", "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                  "version"},
        Malformed{"bad_separator", "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                  "separated"},
        Malformed{"bad_flags", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
                  "trace-flags"},
        Malformed{"v00_too_long", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
                  "exactly 55"},
        Malformed{"future_bad_extra", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
                  "start with '-'"},
        Malformed{"space_in_trace_id", "00-0af7651916cd43dd8448eb21 c80319c-b7ad6b7169203331-01",
                  "trace-id"}),
    [](const ::testing::TestParamInfo<Malformed>& param) { return std::string(param.param.name); });

}  // namespace
