// Spans: a named, timed part of a trace. A span is a child of the thread's current trace
// context (or the root of a new trace), is that context for the thread while it lives, and
// on its end writes a record with its duration and its parent span.
//
//   BBX_SPAN("charge {order}", order_id);   // to the end of the enclosing scope
//   blackbox::Span span("charge");          // the same, with a name known only at run time
//
// A span writes two records: its start (the template and its arguments, in the span's
// context, so it carries the new span id) and its end ("span NAME ended after N ns (parent
// P)", tag "span"). Records logged inside carry the span's trace id and span id; logcat
// builds the tree from the end records' parent ids. Never allocates; the context is the
// thread's own: not movable, destroy it on the thread that created it. Use TraceScope with
// current_trace() to carry a span's context to another thread (it becomes the parent of
// the spans opened there).
#pragma once

#include <cstdint>
#include <string_view>

#include "blackbox/blackbox.hpp"

namespace blackbox {
namespace detail {

// What a span saves of the thread's context and needs at its end. Out of line: ids,
// context switch, the end record.
struct SpanState {
  std::uint8_t saved[24];  // the thread's trace id and span id before the span
  std::uint8_t saved_flags;
  bool saved_active;
  std::uint64_t parent;  // parent span id (big-endian bytes as a number); 0: a root
  std::uint64_t start_ticks;
  std::string_view name;
};
void open_span(SpanState& s, std::string_view name) noexcept;
void close_span(const SpanState& s) noexcept;

}  // namespace detail

class Span {
 public:
  // A span named `name` (copied into its records; keep it short). Its start record is
  // "span NAME started" (tag "span").
  explicit Span(std::string_view name) noexcept;
  ~Span() { detail::close_span(state_); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  // For BBX_SPAN: the context is switched; the macro writes the start record.
  struct Opened {};
  Span(Opened, std::string_view name) noexcept { detail::open_span(state_, name); }
  [[nodiscard]] std::uint64_t start_ticks() const noexcept { return state_.start_ticks; }

 private:
  detail::SpanState state_;
};

}  // namespace blackbox

#define BBX_INTERNAL_CAT2(a, b) a##b
#define BBX_INTERNAL_CAT(a, b) BBX_INTERNAL_CAT2(a, b)

// BBX_SPAN(template, args...): a span from here to the end of the enclosing scope, named by
// its template; its start record is the template with its arguments (level info, this
// file's BBX_TAG). A declaration: one per line.
#define BBX_SPAN(template_, ...)                                                                  \
  ::blackbox::Span BBX_INTERNAL_CAT(bbx_internal_span_, __LINE__)(::blackbox::Span::Opened{},     \
                                                                  ::std::string_view(template_)); \
  BBX_INTERNAL_LOG(BBX_INTERNAL_CAT(bbx_internal_span_, __LINE__).start_ticks(), BBX_TAG,         \
                   ::blackbox::Level::info, template_ __VA_OPT__(, ) __VA_ARGS__)
