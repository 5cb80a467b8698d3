// logcat's span tree (tools/logcat/spans.cpp) from records made here: the library's span
// templates recognised exactly, parents from end records, nesting guessed on a thread for
// spans that never ended, and what a damaged or hostile archive could hold (a span that is
// its own parent, two spans each other's, an end record with no start, times at the ends of
// int64) neither loops nor overflows. Durations print in the unit they round to.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "spans.hpp"

namespace {

using blackbox::Record;

constexpr std::string_view kEnd = "span ended after {duration_ns} ns (parent {parent:016x})";
constexpr std::string_view kStart = "span {span} started";

Record in_span(std::uint64_t span, std::int64_t time, std::uint32_t tid = 1) {
  Record r;
  r.has_trace = true;
  r.trace_id.fill(0xab);
  for (int i = 0; i < 8; ++i) r.span_id[i] = static_cast<std::uint8_t>(span >> (56 - 8 * i));
  r.time_ns = time;
  r.pid = 100;
  r.tid = tid;
  r.tag = "app";
  r.message = "record";
  return r;
}

Record start(std::uint64_t span, std::int64_t time, const std::string& name,
             std::uint32_t tid = 1) {
  Record r = in_span(span, time, tid);
  r.tag = "span";
  r.message_template = kStart;
  r.message = "span " + name + " started";
  r.fields.push_back({"span", name});
  return r;
}

Record end(std::uint64_t span, std::int64_t time, std::uint64_t duration, std::uint64_t parent,
           std::uint32_t tid = 1) {
  Record r = in_span(span, time, tid);
  r.tag = "span";
  r.message_template = kEnd;
  r.message = "span ended after ...";
  r.fields.push_back({"duration_ns", duration});
  r.fields.push_back({"parent", parent});
  return r;
}

TEST(SpanTree, ParentsDurationsAndDepthsFromEndRecords) {
  const std::vector<Record> records = {
      start(0xa, 1000, "outer"),   in_span(0xa, 1100),       start(0xb, 1200, "inner"),
      in_span(0xb, 1300),          end(0xb, 1400, 200, 0xa), start(0xc, 1250, "other", 2),
      end(0xc, 1500, 250, 0xa, 2), end(0xa, 2000, 1000, 0),
  };
  const logcat::SpanTree tree(records);
  ASSERT_EQ(tree.spans().size(), 3u);
  const logcat::SpanNode* outer = tree.find(0xa);
  const logcat::SpanNode* inner = tree.find(0xb);
  const logcat::SpanNode* other = tree.find(0xc);
  ASSERT_TRUE(outer && inner && other);
  EXPECT_EQ(outer->name, "outer");
  EXPECT_EQ(outer->depth, 0);
  EXPECT_EQ(*outer->duration_ns, 1000u);
  EXPECT_EQ(outer->records, 3u);
  EXPECT_EQ(inner->parent, 0xau);
  EXPECT_EQ(inner->depth, 1);
  EXPECT_FALSE(inner->parent_guessed);
  EXPECT_EQ(other->tid, 2u);
  EXPECT_EQ(other->depth, 1);
  EXPECT_TRUE(tree.within(0xb, 0xa));
  EXPECT_TRUE(tree.within(0xa, 0xa));
  EXPECT_FALSE(tree.within(0xa, 0xb));
  EXPECT_FALSE(tree.within(0xc, 0xb));
  EXPECT_EQ(tree.started_by(records[0], 0), outer);
  EXPECT_EQ(tree.started_by(records[1], 1), nullptr);
}

TEST(SpanTree, OnlyTheLibraryTemplatesAreSpanRecords) {
  Record fake = end(0xa, 1000, 5, 0xb);
  fake.message_template = "span ended after {duration_ns} ns";  // not the template
  EXPECT_FALSE(logcat::span_end(fake));
  Record wrong_type = end(0xa, 1000, 5, 0xb);
  wrong_type.fields[1].value = std::string("b");  // parent is not a u64
  EXPECT_FALSE(logcat::span_end(wrong_type));
  Record other_tag = end(0xa, 1000, 5, 0xb);
  other_tag.tag = "app";
  EXPECT_FALSE(logcat::span_end(other_tag));
  EXPECT_TRUE(logcat::span_end(end(0xa, 1000, 5, 0xb)));
  // A BBX_SPAN start is named by its message; Span's by its field.
  Record bbx = in_span(0xa, 1000);
  bbx.message = "charge order 42";
  EXPECT_EQ(logcat::span_name(bbx), "charge order 42");
  EXPECT_EQ(logcat::span_name(start(0xa, 1000, "charge")), "charge");
  // Span's with fields: the template goes on after a space.
  Record with_fields = start(0xa, 1000, "charge");
  with_fields.message_template = "span {span} started order={order}";
  with_fields.message = "span charge started order=42";
  with_fields.fields.push_back({"order", std::uint64_t{42}});
  EXPECT_EQ(logcat::span_name(with_fields), "charge");
  Record run_on = start(0xa, 1000, "charge");  // not Span's: no space after "started"
  run_on.message_template = "span {span} startedx";
  run_on.message = "span charge startedx";
  EXPECT_EQ(logcat::span_name(run_on), "span charge startedx");
}

TEST(SpanTree, SpansThatNeverEndedNestOnTheirThread) {
  const std::vector<Record> records = {
      start(0xa, 1000, "open"),   start(0xb, 1100, "closed"), end(0xb, 1200, 100, 0xa),
      start(0xc, 1300, "nested"), in_span(0xc, 1400),         start(0xd, 1300, "elsewhere", 2),
  };
  const logcat::SpanTree tree(records);
  EXPECT_EQ(tree.find(0xa)->parent, 0u);    // nothing was open before it
  EXPECT_EQ(tree.find(0xc)->parent, 0xau);  // b had ended by then
  EXPECT_TRUE(tree.find(0xc)->parent_guessed);
  EXPECT_EQ(tree.find(0xc)->depth, 1);
  EXPECT_EQ(tree.find(0xd)->parent, 0u);  // another thread
  EXPECT_FALSE(tree.find(0xa)->duration_ns);
}

TEST(SpanTree, HostileParentsNeitherLoopNorOverflow) {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<Record> records = {
      end(0xa, 1000, 10, 0xa),  // its own parent, and no start record
      end(0xb, 1000, 10, 0xc),
      end(0xc, 1000, 10, 0xb),                                       // each other's parent
      end(0xd, kMin, std::numeric_limits<std::uint64_t>::max(), 0),  // times at the ends
      end(0xe, kMin + 5, 10, 0),
      end(0xf, kMax, 1, 0),
  };
  const logcat::SpanTree tree(records);
  EXPECT_EQ(tree.find(0xa)->name, "(its start is not in the inputs)");
  EXPECT_LE(tree.find(0xa)->depth, 6);
  EXPECT_LE(tree.find(0xb)->depth, 6);
  EXPECT_TRUE(tree.within(0xb, 0xc));
  EXPECT_FALSE(tree.within(0xb, 0xd));
  EXPECT_EQ(tree.find(0xd)->start_ns, kMin);
  EXPECT_EQ(tree.find(0xe)->start_ns, kMin + 5);  // kMin + 5 - 10 would overflow
  EXPECT_EQ(tree.find(0xf)->start_ns, kMax - 1);
}

// The flat view (and the console) names an end after its span's start record: the library's
// "span NAME started", or a BBX_SPAN's record stamped at the span's start. When the start is
// not among the records (a time window cut it off), the end does not take the name of the
// span's first record seen: it says the start is missing.
TEST(SpanWording, NamesAnEndAfterItsStartOnly) {
  logcat::SpanWording wording;
  // A BBX_SPAN: its start is a record of the caller's ("handle {}" -> "handle 0"), stamped at
  // the span's start: 5,787,338 ns before the end, as the end record says.
  Record bbx_start = in_span(0xa, 1'000'000);
  bbx_start.message = "handle 0";
  Record inner = in_span(0xa, 1'200'000);
  inner.message = "worker 0: request 0";
  Record finish = end(0xa, 1'000'000 + 5'787'338, 5'787'338, 0);
  EXPECT_FALSE(wording.end_text(bbx_start));
  EXPECT_FALSE(wording.end_text(inner));
  EXPECT_EQ(wording.end_text(finish), "end of handle 0 after 5.79 ms");

  // The same span seen from its second record on.
  logcat::SpanWording windowed;
  EXPECT_FALSE(windowed.end_text(inner));
  EXPECT_EQ(windowed.end_text(finish),
            "end of span 000000000000000a (its start is not among these records) after 5.79 ms");

  // The library's start record names the span whatever its time; an end with no record of
  // its span before it says the start is missing.
  logcat::SpanWording library;
  EXPECT_FALSE(library.end_text(start(0xb, 10, "charge")));
  EXPECT_EQ(library.end_text(end(0xb, 5'000, 900, 0)), "end of charge after 900 ns");
  EXPECT_EQ(library.end_text(end(0xc, 5'000, 900, 0)),
            "end of span 000000000000000c (its start is not among these records) after 900 ns");
}

TEST(HumanDuration, ThreeDigitsInTheUnitTheyRoundTo) {
  EXPECT_EQ(logcat::human_duration(999), "999 ns");
  EXPECT_EQ(logcat::human_duration(1'000), "1 µs");
  EXPECT_EQ(logcat::human_duration(999'499), "999 µs");
  EXPECT_EQ(logcat::human_duration(999'600), "1 ms");  // was "1e+03 µs"
  EXPECT_EQ(logcat::human_duration(148'000'000), "148 ms");
  EXPECT_EQ(logcat::human_duration(999'600'000), "1.000 s");  // was "1e+03 ms"
  EXPECT_EQ(logcat::human_duration(61'250'000'000), "61.250 s");
  // No value anywhere near a unit's end prints in exponent form.
  for (std::uint64_t unit : {1'000ULL, 1'000'000ULL, 1'000'000'000ULL}) {
    for (std::uint64_t ns = unit - unit / 100; ns < unit + unit / 100;
         ns += std::max<std::uint64_t>(1, unit / 10'000)) {
      EXPECT_EQ(logcat::human_duration(ns).find('e'), std::string::npos) << ns;
    }
  }
}

}  // namespace
