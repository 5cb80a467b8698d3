// Spans: a named, timed part of a trace. A span is a child of the thread's current trace
// context (or the root of a new trace), is that context for the thread while it lives, and
// on its end writes a record with its duration and its parent span.
//
//   BBX_SPAN("charge {order}", order_id);   // to the end of the enclosing scope
//   blackbox::Span span("charge");          // the same, with a name known only at run time
//   blackbox::Span span(name, blackbox::field<"order">(order_id), "amount"_f = cents);
//                                           // ... and fields (using namespace
//                                           // blackbox::literals for "amount"_f)
//
// A span writes two records: its start (the template and its arguments, in the span's
// context, so it carries the new span id) and its end ("span NAME ended after N ns (parent
// P)", tag "span"). Records logged inside carry the span's trace id and span id; logcat
// builds the tree from the end records' parent ids. Never allocates; the context is the
// thread's own: not movable, destroy it on the thread that created it. Use TraceScope with
// current_trace() to carry a span's context to another thread (it becomes the parent of
// the spans opened there).
#pragma once

#include <cstddef>
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

// A field's name as a template argument: known at compile time, so the start record's
// template (and its check) is built at compile time too.
template <std::size_t N>
struct FieldName {
  consteval FieldName(const char (&name)[N]) {  // NOLINT: implicit by design
    for (std::size_t i = 0; i < N; ++i) text[i] = name[i];
  }
  static constexpr std::size_t size = N - 1;
  char text[N]{};
};

// Characters of a template built at compile time, as an array so that TemplateString's
// check takes it like a literal.
template <std::size_t N>
struct TemplateChars {
  char text[N]{};
};

// "span {span} started" and " NAME={NAME}" per field: the start record of a Span with
// fields. Field names must be identifiers (letters, digits, '_', '.'); TemplateString's
// check rejects any other at compile time.
template <FieldName... Names>
struct SpanStartTemplate {
  static constexpr std::string_view kHead = "span {span} started";
  static constexpr std::size_t kSize = kHead.size() + ((2 * Names.size + 4) + ... + 0) + 1;
  static constexpr TemplateChars<kSize> build() {
    TemplateChars<kSize> out;
    std::size_t at = 0;
    for (const char c : kHead) out.text[at++] = c;
    const auto append_field = [&](std::string_view name) {
      out.text[at++] = ' ';
      for (const char c : name) out.text[at++] = c;
      out.text[at++] = '=';
      out.text[at++] = '{';
      for (const char c : name) out.text[at++] = c;
      out.text[at++] = '}';
    };
    (append_field(std::string_view(Names.text, Names.size)), ...);
    return out;
  }
  static constexpr TemplateChars<kSize> value = build();
};

}  // namespace detail

// A named field of a Span's start record; holds a reference to the value, so use it only
// as a constructor argument (as `field<"order">(id)` or, with blackbox::literals,
// `"order"_f = id`).
template <detail::FieldName Name, typename T>
struct SpanField {
  const T& value;
};

template <detail::FieldName Name, typename T>
[[nodiscard]] constexpr SpanField<Name, T> field(const T& value) noexcept {
  return {value};
}

namespace literals {

template <detail::FieldName Name>
struct FieldLiteral {
  template <typename T>
  constexpr SpanField<Name, T> operator=(const T& value) const noexcept {  // NOLINT
    return {value};
  }
};

// "order"_f = id: the same as field<"order">(id) (in the manner of fmt's "name"_a = v).
template <detail::FieldName Name>
constexpr FieldLiteral<Name> operator""_f() noexcept {
  return {};
}

}  // namespace literals

class Span {
 public:
  // A span named `name` (copied into its records; keep it short). Its start record is
  // "span NAME started" (tag "span").
  explicit Span(std::string_view name) noexcept;
  // The same with fields: the start record is "span NAME started order=42 amount=12.5",
  // each field under its own name (a site of the library's for each list of names and
  // types, so its file and line are this header's; BBX_SPAN names the caller's line).
  template <detail::FieldName... Names, typename... Ts>
  requires(sizeof...(Names) > 0) explicit Span(std::string_view name,
                                               const SpanField<Names, Ts>&... fields) noexcept
      : Span(Opened{}, name) {
    BBX_INTERNAL_LOG(state_.start_ticks, "span", Level::info,
                     detail::SpanStartTemplate<Names...>::value.text, name, fields.value...);
  }
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
