// Record arguments back into typed values and the formatted message.
#include "reader/decode.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cstring>
#include <iterator>
#include <type_traits>

#include "format/ring_layout.hpp"

namespace blackbox::reader {
namespace {

using detail::ArgType;

template <typename T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// The message is built here, then copied into the record once: fmt appends to its own
// buffer inline, where std::string appends are calls that grow and shrink.
using Message = fmt::memory_buffer;

void put(Message& out, const char* data, std::size_t size) {
  const std::size_t at = out.size();
  out.resize(at + size);  // inline, unlike buffer::append()
  if (size != 0) std::memcpy(out.data() + at, data, size);
}
void put(Message& out, std::string_view s) { put(out, s.data(), s.size()); }

// Formats `value` with the placeholder's fmt spec ("{:...}"), exactly as fmt::format would
// at the call site. A spec fmt rejects (only possible in a damaged file) is shown inline.
template <typename T>
void format_one(Message& out, const std::string& spec, const T& value) {
  try {
    fmt::format_to(fmt::appender(out), fmt::runtime(spec), value);
  } catch (const fmt::format_error& e) {
    put(out, "{bad spec: ");
    put(out, e.what());
    put(out, "}");
  }
}

}  // namespace

namespace {

// Appends `value` formatted by placeholder `i` of `site` (plainly when the template is
// damaged). A plain "{}" is formatted without parsing a format string at run time.
template <typename T>
void format_arg(Message& out, const SiteInfo& site, std::size_t i, const T& value) {
  if (!site.template_ok || site.plain[i]) {
    if constexpr (std::is_same_v<T, fmt::string_view>) {
      put(out, value.data(), value.size());
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                         !std::is_same_v<T, char>) {
      const fmt::format_int text(value);
      put(out, text.data(), text.size());
    } else {
      fmt::format_to(fmt::appender(out), "{}", value);
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (site.fixed[i] >= 0) {
      fmt::format_to(fmt::appender(out), FMT_COMPILE("{:.{}f}"), value, int{site.fixed[i]});
    } else {
      format_one(out, site.specs[i], value);
    }
  } else {
    format_one(out, site.specs[i], value);
  }
}

void set_text(Value& value, const char* data, std::size_t size) {
  if (auto* s = std::get_if<std::string>(&value)) {
    s->assign(data, size);  // reuses the string's storage
  } else {
    value.emplace<std::string>(data, size);
  }
}

}  // namespace

bool decode_args(const SiteInfo& site, const std::byte* data, std::size_t size, Record& record,
                 bool fields) {
  const std::size_t n = site.types.size();
  // Fields, message and strings keep their storage from the record this one replaces.
  record.fields.resize(fields ? n : 0);
  record.truncated = false;
  thread_local Message message;
  message.clear();
  if (site.template_ok) {
    put(message, site.literals[0]);
  } else {
    put(message, site.message_template);  // damaged: the template, then the values
  }
  std::size_t offset = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const ArgType type = site.types[i];
    Field* const field = fields ? &record.fields[i] : nullptr;  // null: values not kept
    if (field != nullptr) {
      if (site.template_ok) {
        field->name = site.names[i];
      } else {
        field->name.clear();
      }
      field->truncated = false;
    }
    const std::uint32_t fixed = detail::fixed_size(type);
    if (fixed != 0 && offset + fixed > size) return false;
    const std::byte* p = data + offset;
    if (!site.template_ok) put(message, i == 0 ? " [" : ", ");
    switch (type) {
      case ArgType::i8:
        if (field) field->value = std::int64_t{load<std::int8_t>(p)};
        format_arg(message, site, i, static_cast<signed char>(load<std::int8_t>(p)));
        break;
      case ArgType::i16:
        if (field) field->value = std::int64_t{load<std::int16_t>(p)};
        format_arg(message, site, i, load<std::int16_t>(p));
        break;
      case ArgType::i32:
        if (field) field->value = std::int64_t{load<std::int32_t>(p)};
        format_arg(message, site, i, load<std::int32_t>(p));
        break;
      case ArgType::i64:
        if (field) field->value = load<std::int64_t>(p);
        format_arg(message, site, i, load<std::int64_t>(p));
        break;
      case ArgType::u8:
        if (field) field->value = std::uint64_t{load<std::uint8_t>(p)};
        format_arg(message, site, i, static_cast<unsigned char>(load<std::uint8_t>(p)));
        break;
      case ArgType::u16:
        if (field) field->value = std::uint64_t{load<std::uint16_t>(p)};
        format_arg(message, site, i, load<std::uint16_t>(p));
        break;
      case ArgType::u32:
        if (field) field->value = std::uint64_t{load<std::uint32_t>(p)};
        format_arg(message, site, i, load<std::uint32_t>(p));
        break;
      case ArgType::u64:
        if (field) field->value = load<std::uint64_t>(p);
        format_arg(message, site, i, load<std::uint64_t>(p));
        break;
      case ArgType::f32:
        if (field) field->value = double{load<float>(p)};
        format_arg(message, site, i, load<float>(p));
        break;
      case ArgType::f64:
        if (field) field->value = load<double>(p);
        format_arg(message, site, i, load<double>(p));
        break;
      case ArgType::boolean:
        if (field) field->value = load<std::uint8_t>(p) != 0;
        format_arg(message, site, i, load<std::uint8_t>(p) != 0);
        break;
      case ArgType::character:
        if (field) field->value = load<char>(p);
        format_arg(message, site, i, load<char>(p));
        break;
      case ArgType::pointer:
        if (field) field->value = Pointer{load<std::uint64_t>(p)};
        format_arg(
            message, site, i,
            reinterpret_cast<const void*>(static_cast<std::uintptr_t>(load<std::uint64_t>(p))));
        break;
      case ArgType::string:
      case ArgType::formatted: {
        if (offset + 4 > size) return false;
        const auto word = load<std::uint32_t>(p);
        const std::uint32_t length = word & detail::kStringLengthMask;
        if (length > size - offset - 4) return false;
        const auto* text = reinterpret_cast<const char*>(p + 4);
        const bool truncated = (word & detail::kStringTruncated) != 0;
        record.truncated |= truncated;
        if (type == ArgType::formatted) {
          put(message, text, length);  // its spec was applied when logged
        } else {
          format_arg(message, site, i, fmt::string_view(text, length));
        }
        if (field) {
          field->truncated = truncated;
          set_text(field->value, text, length);
        }
        offset += 4 + length;
        break;
      }
    }
    offset += fixed;
    if (site.template_ok) put(message, site.literals[i + 1]);
  }
  if (!site.template_ok && n != 0) put(message, "]");
  record.message.assign(message.data(), message.size());
  return offset <= size;
}

}  // namespace blackbox::reader
