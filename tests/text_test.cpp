// The text helpers logcat's JSON, logfmt and trace output are made of (blackbox/text.hpp),
// against byte-by-byte reference versions, on random strings of every length around the
// 16-byte windows and 8-byte words the fast paths work in, with the bytes that need escaping
// at every position.
#include "blackbox/text.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

namespace {

using blackbox::text::Buffer;

std::string reference_json(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string reference_logfmt(std::string_view s) {
  bool bare = !s.empty();
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    bare = bare && c >= 0x20 && c != '"' && c != '\\' && c != ' ' && c != '=';
  }
  return bare ? std::string(s) : reference_json(s);
}

// Mostly plain bytes (including UTF-8 and DEL, which JSON keeps), sometimes one to escape.
std::string random_string(std::mt19937& rng, std::size_t n) {
  static constexpr char kSpecial[] = {'"',    '\\', '\n', '\r',   '\t',   '\0',  '\x01',
                                      '\x1f', ' ',  '=',  '\x7f', '\xc3', '\xa9'};
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng() % 8 == 0) {
      s += kSpecial[rng() % sizeof kSpecial];
    } else {
      s += static_cast<char>('a' + rng() % 26);
    }
  }
  return s;
}

TEST(Text, JsonStringsAndLogfmtValuesMatchTheByteByByteReference) {
  std::mt19937 rng(12345);
  Buffer json(256), logfmt(256);  // a Buffer starts with 1 MiB: one pair, cleared each round
  for (std::size_t n = 0; n <= 70; ++n) {
    for (int round = 0; round < 200; ++round) {
      // Every length, plain and with escapes; and each special byte alone at each position.
      std::string s = round == 0 ? std::string(n, 'x') : random_string(rng, n);
      if (round == 1 && n > 0) s[rng() % n] = '"';
      json.clear();
      logfmt.clear();
      blackbox::text::append_json_string(s, json);
      blackbox::text::append_logfmt_value(s, logfmt);
      ASSERT_EQ(json.view(), reference_json(s)) << "length " << n;
      ASSERT_EQ(logfmt.view(), reference_logfmt(s)) << "length " << n;
    }
  }
}

TEST(Text, HexMatchesTheTable) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n <= 40; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    if (n > 0) bytes[0] = 0xff;
    Buffer out;
    out += "x";
    blackbox::text::append_hex(bytes.data(), n, out);
    std::string expected = "x";
    for (const std::uint8_t b : bytes) {
      expected += "0123456789abcdef"[b >> 4];
      expected += "0123456789abcdef"[b & 15];
    }
    ASSERT_EQ(out.view(), expected);
    EXPECT_EQ(blackbox::text::trace_hex(bytes.data(), n), expected.substr(1));
  }
}

// The renderer keeps the text of each call site and of the last thread: a record of another
// site, or one whose site facts or thread differ, must still be rendered from its own.
TEST(Text, JsonAndLogfmtLinesFollowEachRecordsOwnSiteAndThread) {
  using blackbox::text::Format;
  const std::string tags[] = {"http", "db \"x\""}, files[] = {"a.cpp", "b.cpp"};
  blackbox::Record r;
  r.time_ns = 1764460800123456000;  // 2025-11-30T00:00:00.123456Z
  r.pid = 7;
  r.tid = 8;
  r.thread_name = "main";
  r.message = "hello";
  r.fields.push_back({"n", std::int64_t{42}, false});
  auto site = std::make_shared<int>(1);
  r.site_owner = site;
  r.tag = tags[0];
  r.file = files[0];
  r.line = 12;
  blackbox::text::Renderer json(Format::json, false, true), logfmt(Format::logfmt, false, true);
  auto line = [](blackbox::text::Renderer& renderer, const blackbox::Record& record) {
    Buffer out(256);
    renderer.render(record, out);
    return std::string(out.view());
  };
  EXPECT_EQ(line(json, r),
            "{\"time\":\"2025-11-30T00:00:00.123456Z\",\"severity\":9,\"severity_text\":\"INFO\","
            "\"tag\":\"http\",\"pid\":7,\"tid\":8,\"thread\":\"main\",\"message\":\"hello\","
            "\"fields\":{\"n\":42},\"file\":\"a.cpp\",\"line\":12}\n");
  EXPECT_EQ(line(logfmt, r),
            "time=2025-11-30T00:00:00.123456Z level=info tag=http pid=7 tid=8 msg=hello n=42\n");
  // With the record's app (logcat knows it from the process's file): a member / a key of
  // its own, escaped as any string.
  auto line_of_app = [](blackbox::text::Renderer& renderer, const blackbox::Record& record) {
    Buffer out(256);
    renderer.render(record, out, "web \"1\"");
    return std::string(out.view());
  };
  EXPECT_NE(line_of_app(json, r).find("\"tag\":\"http\",\"app\":\"web \\\"1\\\"\",\"pid\":7,"),
            std::string::npos)
      << line_of_app(json, r);
  EXPECT_NE(line_of_app(logfmt, r).find(" tag=http app=\"web \\\"1\\\"\" pid=7 tid=8 "),
            std::string::npos)
      << line_of_app(logfmt, r);
  EXPECT_EQ(line(json, r).find("\"app\""), std::string::npos);  // unknown: not written
  // The same site object, other facts (a record built by hand may do this): each alone, then
  // all of them.
  r.tag = tags[1];
  EXPECT_NE(line(json, r).find("\"tag\":\"db \\\"x\\\"\""), std::string::npos);
  r.line = 14;
  EXPECT_NE(line(json, r).find("\"line\":14}"), std::string::npos);
  r.level = blackbox::Level::error;
  EXPECT_NE(line(json, r).find("\"severity_text\":\"ERROR\""), std::string::npos);
  r.file = files[1];
  EXPECT_NE(line(json, r).find("\"file\":\"b.cpp\""), std::string::npos);
  r.line = 13;
  r.level = blackbox::Level::warn;
  r.thread_name = "worker";
  EXPECT_EQ(line(json, r),
            "{\"time\":\"2025-11-30T00:00:00.123456Z\",\"severity\":13,\"severity_text\":\"WARN\","
            "\"tag\":\"db \\\"x\\\"\",\"pid\":7,\"tid\":8,\"thread\":\"worker\","
            "\"message\":\"hello\",\"fields\":{\"n\":42},\"file\":\"b.cpp\",\"line\":13}\n");
  EXPECT_EQ(line(logfmt, r),
            "time=2025-11-30T00:00:00.123456Z level=warn tag=\"db \\\"x\\\"\" "
            "pid=7 tid=8 msg=hello n=42\n");
  // No site object at all, then another one: each line from its record.
  r.site_owner.reset();
  r.tag = tags[0];
  EXPECT_NE(line(json, r).find("\"tag\":\"http\""), std::string::npos);
  r.tag = tags[1];
  EXPECT_NE(line(json, r).find("\"tag\":\"db \\\"x\\\"\""), std::string::npos);
  r.site_owner = std::make_shared<int>(2);
  r.tag = tags[0];
  r.pid = 9;
  const std::string last = line(json, r);
  EXPECT_NE(last.find("\"tag\":\"http\""), std::string::npos);
  EXPECT_NE(last.find("\"pid\":9,"), std::string::npos);
}

// Field keys are kept per site too, for records of the site's template (a reader's records
// have their template's names); a record without one, or of another template, or with other
// fields, has its own keys. Trace ids are kept from the line before while they are the same.
TEST(Text, FieldKeysAndTraceIdsFollowEachRecord) {
  using blackbox::text::Format;
  const std::string templates[] = {"x {n} {}", "y {n} {}"};
  blackbox::Record r;
  r.pid = 7;
  r.tid = 8;
  r.message = "m";
  r.site_owner = std::make_shared<int>(1);
  r.message_template = templates[0];
  r.fields.push_back({"n", std::int64_t{1}, false});
  r.fields.push_back({"", std::string("a b"), false});
  blackbox::text::Renderer json(Format::json, false, true), logfmt(Format::logfmt, false, true);
  auto fields = [](blackbox::text::Renderer& renderer, const blackbox::Record& record) {
    Buffer out(256);
    renderer.render(record, out);
    const std::string text(out.view());
    const auto from =
        renderer.format() == Format::json ? text.find(",\"fields\"") : text.find(" msg=");
    return text.substr(from,
                       text.find(renderer.format() == Format::json ? ",\"file\"" : "\n") - from);
  };
  EXPECT_EQ(fields(json, r), ",\"fields\":{\"n\":1,\"1\":\"a b\"}");
  EXPECT_EQ(fields(logfmt, r), " msg=m n=1 arg1=\"a b\"");
  // A name of another length; then a third field; then two fields again, renamed to names as
  // long under another template.
  r.fields[0].name = "count";
  EXPECT_EQ(fields(json, r), ",\"fields\":{\"count\":1,\"1\":\"a b\"}");
  EXPECT_EQ(fields(logfmt, r), " msg=m count=1 arg1=\"a b\"");
  r.fields.push_back({"z\"", true, false});
  EXPECT_EQ(fields(json, r), ",\"fields\":{\"count\":1,\"1\":\"a b\",\"z\\\"\":true}");
  r.fields.pop_back();
  r.fields[0].name = "k";
  r.fields[1].name = "v";
  r.message_template = templates[1];
  EXPECT_EQ(fields(json, r), ",\"fields\":{\"k\":1,\"v\":\"a b\"}");
  EXPECT_EQ(fields(logfmt, r), " msg=m k=1 v=\"a b\"");
  // Without a template: each record's own names, even as long as the ones before.
  r.message_template = {};
  r.fields[0].name = "q";
  EXPECT_EQ(fields(json, r), ",\"fields\":{\"q\":1,\"v\":\"a b\"}");
  r.fields[0].name = "p";
  EXPECT_EQ(fields(json, r), ",\"fields\":{\"p\":1,\"v\":\"a b\"}");
  EXPECT_EQ(fields(logfmt, r), " msg=m p=1 v=\"a b\"");

  // Traces: one, the same again, another trace, the same trace with another span, none.
  auto trace = [&](blackbox::text::Renderer& renderer) {
    Buffer out(256);
    renderer.render(r, out);
    const std::string text(out.view());
    const auto from = text.find(renderer.format() == Format::json ? ",\"trace_id\"" : " trace_id=");
    if (from == std::string::npos) return std::string("none");
    return text.substr(from,
                       text.find(renderer.format() == Format::json ? ",\"file\"" : "\n") - from);
  };
  r.has_trace = true;
  r.trace_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  r.span_id = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11};
  const std::string first =
      ",\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\",\"span_id\":\"0a0b0c0d0e0f1011\"";
  EXPECT_EQ(trace(json), first);
  EXPECT_EQ(trace(json), first);
  EXPECT_EQ(trace(logfmt), " trace_id=0102030405060708090a0b0c0d0e0f10");
  r.trace_id[15] = 0xff;
  EXPECT_EQ(trace(json),
            ",\"trace_id\":\"0102030405060708090a0b0c0d0e0fff\",\"span_id\":\"0a0b0c0d0e0f1011\"");
  EXPECT_EQ(trace(logfmt), " trace_id=0102030405060708090a0b0c0d0e0fff");
  r.span_id[0] = 0xee;
  EXPECT_EQ(trace(json),
            ",\"trace_id\":\"0102030405060708090a0b0c0d0e0fff\",\"span_id\":\"ee0b0c0d0e0f1011\"");
  r.has_trace = false;
  EXPECT_EQ(trace(json), "none");
  EXPECT_EQ(trace(logfmt), "none");
}

}  // namespace
