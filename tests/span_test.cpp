// Spans: nested spans and spans on another thread get the right trace, span and parent ids;
// the thread's context is restored at each span's end; the end record carries the duration.
#include "blackbox/span.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "support/test_env.hpp"

namespace {

std::string hex(const std::array<std::uint8_t, 16>& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : id) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::uint64_t span_of(const blackbox::Record& r) {
  std::uint64_t v = 0;
  for (auto b : r.span_id) v = (v << 8) | b;
  return v;
}

struct Ended {
  std::uint64_t span = 0, parent = 0, duration_ns = 0;
  std::string trace;
  std::int64_t time_ns = 0;
};

// The end records by span name; the other records by message.
struct Seen {
  std::map<std::string, Ended> ended;
  std::map<std::string, blackbox::Record> records;
};

Seen read_spans() {
  Seen seen;
  std::map<std::uint64_t, Ended> ended_by_span;
  std::map<std::uint64_t, std::string> name_of;  // span id -> its start record's template
  for (const blackbox::Record& r : blackbox::test::read_own_ring()) {
    if (r.message_template == "span ended after {duration_ns} ns (parent {parent:016x})") {
      Ended e;
      e.span = span_of(r);
      e.trace = hex(r.trace_id);
      e.duration_ns = std::get<std::uint64_t>(r.fields.at(0).value);
      e.parent = std::get<std::uint64_t>(r.fields.at(1).value);
      e.time_ns = r.time_ns;
      EXPECT_TRUE(r.has_trace);
      ended_by_span[e.span] = e;
    } else {
      seen.records[r.message] = r;
      if (r.has_trace && name_of.count(span_of(r)) == 0) {
        name_of[span_of(r)] = std::string(r.message_template);  // the first: its start
      }
    }
  }
  for (const auto& [span, e] : ended_by_span) {
    std::string name = name_of[span];
    if (name.starts_with("span {span} started")) {  // the class form: the name is field 0
      for (const auto& [message, r] : seen.records) {
        if (span_of(r) == span && r.message_template == name) {
          name = std::get<std::string>(r.fields.at(0).value);
        }
      }
    }
    seen.ended[name] = e;
  }
  return seen;
}

TEST(SpanTest, NestedSpansAreParentAndChildOfOneTrace) {
  ASSERT_FALSE(blackbox::current_trace());
  {
    BBX_SPAN("outer {n}", 1);
    const auto outer = blackbox::current_trace();
    ASSERT_TRUE(outer);
    {
      BBX_SPAN("inner");
      BBX_INFO("inside inner");
      const auto inner = blackbox::current_trace();
      ASSERT_TRUE(inner);
      EXPECT_EQ(inner->trace_id, outer->trace_id);
      EXPECT_NE(inner->span_id, outer->span_id);
    }
    EXPECT_EQ(blackbox::current_trace(), outer);  // restored at the inner span's end
    BBX_INFO("inside outer");
  }
  EXPECT_FALSE(blackbox::current_trace());  // and at the outer's
  BBX_INFO("outside");

  const Seen seen = read_spans();
  ASSERT_EQ(seen.ended.count("outer {n}"), 1u);
  ASSERT_EQ(seen.ended.count("inner"), 1u);
  const Ended& outer = seen.ended.at("outer {n}");
  const Ended& inner = seen.ended.at("inner");
  EXPECT_EQ(outer.parent, 0u);  // a root: a new trace
  EXPECT_EQ(inner.parent, outer.span);
  EXPECT_EQ(inner.trace, outer.trace);
  EXPECT_LE(inner.time_ns, outer.time_ns);
  // Start records carry the span's own ids; records inside carry the innermost span's.
  EXPECT_EQ(span_of(seen.records.at("outer 1")), outer.span);
  EXPECT_EQ(span_of(seen.records.at("inner")), inner.span);
  EXPECT_EQ(span_of(seen.records.at("inside inner")), inner.span);
  EXPECT_EQ(span_of(seen.records.at("inside outer")), outer.span);
  EXPECT_FALSE(seen.records.at("outside").has_trace);
  // The duration is measured on the same clock as the records' times: the outer span
  // lasted at least from its start record to the inner span's end record.
  EXPECT_GE(outer.duration_ns + 1000,
            static_cast<std::uint64_t>(inner.time_ns - seen.records.at("outer 1").time_ns));
}

TEST(SpanTest, ASpanUnderAnIncomingTraceIsItsChild) {
  const auto incoming =
      *blackbox::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  {
    blackbox::TraceScope scope(incoming);
    blackbox::Span span("handle");
    BBX_INFO("handling");
  }
  const Seen seen = read_spans();
  const Ended& handle = seen.ended.at("handle");
  EXPECT_EQ(handle.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(handle.parent, 0x00f067aa0ba902b7u);
  EXPECT_EQ(span_of(seen.records.at("span handle started")), handle.span);
  EXPECT_EQ(span_of(seen.records.at("handling")), handle.span);
}

TEST(SpanTest, ASpanWithFieldsNamesEachInItsStartRecord) {
  using namespace blackbox::literals;
  const std::uint64_t order = 42;
  const double amount = 12.5;
  const std::string who = "bob";
  {
    blackbox::Span span("charge", blackbox::field<"order">(order), "amount"_f = amount,
                        "who"_f = who, "retry"_f = -1);
    BBX_INFO("charging");
  }
  const Seen seen = read_spans();
  ASSERT_EQ(seen.ended.count("charge"), 1u);
  const blackbox::Record& start = seen.records.at(
      "span charge started order=42 amount=12.5 "
      "who=bob retry=-1");
  EXPECT_EQ(start.tag, "span");
  EXPECT_EQ(start.message_template,
            "span {span} started order={order} amount={amount} who={who} retry={retry}");
  ASSERT_EQ(start.fields.size(), 5u);
  const std::vector<blackbox::Field> expected = {
      {"span", std::string("charge")}, {"order", std::uint64_t{42}}, {"amount", 12.5},
      {"who", std::string("bob")},     {"retry", std::int64_t{-1}},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(start.fields[i].name, expected[i].name);
    EXPECT_EQ(start.fields[i].value, expected[i].value) << expected[i].name;
  }
  EXPECT_EQ(span_of(start), seen.ended.at("charge").span);
  EXPECT_EQ(span_of(seen.records.at("charging")), seen.ended.at("charge").span);
  EXPECT_EQ(seen.ended.at("charge").parent, 0u);
}

TEST(SpanTest, ASpanOnAnotherThreadContinuesTheTrace) {
  std::optional<blackbox::TraceContext> captured;
  std::thread worker;
  {
    BBX_SPAN("request");
    captured = blackbox::current_trace();
    worker = std::thread([&captured] {
      blackbox::TraceScope scope(*captured);  // the request's context, on this thread
      BBX_SPAN("work");
      BBX_INFO("working");
    });
    worker.join();
  }
  const Seen seen = read_spans();
  const Ended& request = seen.ended.at("request");
  const Ended& work = seen.ended.at("work");
  EXPECT_EQ(work.trace, request.trace);
  EXPECT_EQ(work.parent, request.span);
  EXPECT_NE(seen.records.at("working").tid, seen.records.at("request").tid);
  EXPECT_EQ(span_of(seen.records.at("working")), work.span);
}

}  // namespace
