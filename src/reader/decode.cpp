// Record arguments back into typed values and the formatted message.
#include "reader/decode.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <type_traits>

#include "blackbox/detail/encode.hpp"
#include "format/ring_layout.hpp"
#include "reader/fixed_float.hpp"
#include "reader/format_arg.hpp"

namespace blackbox::reader {
namespace {

using detail::ArgType;

// Copies into `s`, reusing its storage: clear() and append() rather than assign(), whose
// aliasing checks cost more than the copy of a short value.
void reuse_assign(std::string& s, const char* data, std::size_t size) {
  s.clear();
  s.append(data, size);
}

void set_text(Value& value, const char* data, std::size_t size) {
  if (auto* s = std::get_if<std::string>(&value)) {
    reuse_assign(*s, data, size);
  } else {
    value.emplace<std::string>(data, size);
  }
}

// Whether two short texts (field names) are equal, without a call to memcmp.
bool same_text(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace

namespace {

// An argument of a printf-style site, as printf would receive it after the default
// argument promotions (char, short and bool become int; float becomes double).
struct PrintfValue {
  enum class Kind { int32, uint32, int64, uint64, floating, pointer, string };
  PrintfValue(Kind k = Kind::int32, std::int64_t i_ = 0, double d_ = 0, std::string_view s_ = {})
      : kind(k), i(i_), d(d_), s(s_) {}
  Kind kind;
  std::int64_t i;  // int32, int64; uint32 and uint64 as their bits
  double d;
  std::string_view s;
};

// A conversion's flags, width and precision (stars replaced by their values, as printf
// applies them: a negative width is the '-' flag, a negative precision is none).
struct PrintfSpec {
  std::string flags;
  bool left = false;
  int width = 0;
  int precision = -1;  // none
  char conversion = 0;
};
PrintfSpec parse_spec(const std::string& spec, const int* stars) {
  PrintfSpec p;
  std::size_t j = 1;
  for (; j < spec.size() && std::string_view("-+ #0").find(spec[j]) != std::string_view::npos;
       ++j) {
    p.flags += spec[j];
    p.left |= spec[j] == '-';
  }
  if (j < spec.size() && spec[j] == '*') {
    p.width = *stars++;
    if (p.width < 0) {
      if (!p.left) p.flags += '-';
      p.left = true;
      p.width = p.width == INT32_MIN ? 0 : -p.width;
    }
    ++j;
  } else {
    for (; j < spec.size() && spec[j] >= '0' && spec[j] <= '9'; ++j)
      p.width = p.width * 10 + (spec[j] - '0');
  }
  if (j < spec.size() && spec[j] == '.') {
    ++j;
    if (j < spec.size() && spec[j] == '*') {
      p.precision = *stars < 0 ? -1 : *stars;
      ++j;
    } else {
      p.precision = 0;
      for (; j < spec.size() && spec[j] >= '0' && spec[j] <= '9'; ++j) {
        p.precision = p.precision * 10 + (spec[j] - '0');
      }
    }
  }
  // Bounded: a damaged file must not make a reader pad a line to gigabytes.
  p.width = std::min(p.width, 1 << 16);
  p.precision = std::min(p.precision, 1 << 16);
  p.conversion = spec.back();
  return p;
}

// The C library formats every conversion but %s: fmt's printf differs from it in corners
// the property test found (an integer 0 with precision 0, %#g, zero-padded %a, '0' with a
// negative * precision). The spec is rebuilt from parsed, bounded parts, and its length
// modifier is the one that matches the value passed, so a damaged file cannot make
// vsnprintf read an argument it was not given.
void append_c(Message& out, const PrintfSpec& p, const std::string& given, const PrintfValue& v) {
  using Kind = PrintfValue::Kind;
  std::string spec = "%" + p.flags;
  if (p.width != 0) spec += std::to_string(p.width);
  if (p.precision >= 0) {
    spec += '.';  // not "." + to_string(): g++ 12 -O3 sees a false overlap there (-Wrestrict)
    spec += std::to_string(p.precision);
  }
  const bool integer = std::string_view("diuoxXc").find(p.conversion) != std::string_view::npos;
  if (integer && (v.kind == Kind::int32 || v.kind == Kind::uint32) && p.conversion != 'c') {
    // hh and h as given (printf converts the int it receives); nothing wider.
    if (given.find("hh") != std::string::npos) {
      spec += "hh";
    } else if (given.find('h') != std::string::npos) {
      spec += 'h';
    }
  } else if (integer && (v.kind == Kind::int64 || v.kind == Kind::uint64)) {
    spec += "ll";
  }
  spec += p.conversion;
  char small[512];
  auto format = [&](char* buffer, std::size_t size) {
    switch (v.kind) {
      case Kind::int32:
        return std::snprintf(buffer, size, spec.c_str(), static_cast<int>(v.i));
      case Kind::uint32:
        return std::snprintf(buffer, size, spec.c_str(), static_cast<unsigned>(v.i));
      case Kind::int64:
        return std::snprintf(buffer, size, spec.c_str(), static_cast<long long>(v.i));
      case Kind::uint64:
        return std::snprintf(buffer, size, spec.c_str(), static_cast<unsigned long long>(v.i));
      case Kind::floating:
        return std::snprintf(buffer, size, spec.c_str(), v.d);
      case Kind::pointer:
        return std::snprintf(buffer, size, spec.c_str(),
                             reinterpret_cast<void*>(static_cast<std::uintptr_t>(v.i)));
      case Kind::string:
        break;
    }
    return 0;
  };
  const int n = format(small, sizeof small);
  if (n < 0) return;
  if (static_cast<std::size_t>(n) < sizeof small) {
    put(out, small, static_cast<std::size_t>(n));
    return;
  }
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  format(big.data(), big.size());
  put(out, big.data(), static_cast<std::size_t>(n));
}

// %s by hand: a recorded string may hold NUL bytes (printf would stop there) and is not
// NUL-terminated. Precision and width count bytes, as printf's do.
void append_string(Message& out, const PrintfSpec& p, std::string_view text) {
  if (p.precision >= 0 && text.size() > static_cast<std::size_t>(p.precision)) {
    text = text.substr(0, static_cast<std::size_t>(p.precision));
  }
  const auto width = static_cast<std::size_t>(p.width);
  const std::size_t fill = width > text.size() ? width - text.size() : 0;
  if (!p.left) out.append(std::string(fill, ' '));
  put(out, text);
  if (p.left) out.append(std::string(fill, ' '));
}

// The message of a printf-style site: each conversion formatted as snprintf would.
bool format_printf(const SiteInfo& site, const std::vector<PrintfValue>& values, Message& out) {
  std::size_t arg = 0;
  put(out, site.literals[0]);
  for (std::size_t c = 0; c < site.specs.size(); ++c) {
    int stars[2] = {0, 0};
    for (std::uint8_t s = 0; s < site.stars[c]; ++s) stars[s] = static_cast<int>(values[arg++].i);
    const PrintfValue& v = values[arg++];
    const std::string& spec = site.specs[c];
    const PrintfSpec p = parse_spec(spec, stars);
    if (v.kind == PrintfValue::Kind::string) {
      append_string(out, p, v.s);
    } else {
      append_c(out, p, spec, v);
    }
    put(out, site.literals[c + 1]);
  }
  return true;
}

}  // namespace

bool decode_args(const SiteInfo& site, const std::byte* data, std::size_t size, Record& record,
                 bool fields) {
  if (site.printf_format && site.template_ok)
    return decode_printf_args(site, data, size, record, fields);
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
        // Usually the record before was of the same site: its names are already there.
        if (!same_text(field->name, site.names[i])) field->name = site.names[i];
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
  reuse_assign(record.message, message.data(), message.size());
  return offset <= size;
}

bool arguments_fit(const SiteInfo& site, const std::byte* data, std::size_t size, bool& truncated) {
  truncated = false;
  std::size_t offset = 0;
  for (const ArgType type : site.types) {
    const std::uint32_t fixed = detail::fixed_size(type);
    if (fixed != 0) {
      if (fixed > size - offset) return false;
      offset += fixed;
      continue;
    }
    if (4 > size - offset) return false;
    const auto word = load<std::uint32_t>(data + offset);
    const std::uint32_t length = word & detail::kStringLengthMask;
    if (length > size - offset - 4) return false;
    truncated |= (word & detail::kStringTruncated) != 0;
    offset += 4 + length;
  }
  return true;
}

bool decode_printf_args(const SiteInfo& site, const std::byte* data, std::size_t size,
                        Record& record, bool fields) {
  using Kind = PrintfValue::Kind;
  const std::size_t n = site.types.size();
  record.fields.resize(fields ? n : 0);
  record.truncated = false;
  thread_local std::vector<PrintfValue> values;
  values.assign(n, PrintfValue{Kind::int32});
  std::size_t offset = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const ArgType type = site.types[i];
    PrintfValue& v = values[i];
    Field* const field = fields ? &record.fields[i] : nullptr;
    if (field != nullptr) {
      field->name.clear();
      field->truncated = false;
    }
    const std::uint32_t fixed = detail::fixed_size(type);
    if (fixed != 0 && offset + fixed > size) return false;
    const std::byte* p = data + offset;
    auto signed_value = [&](std::int64_t x, Kind kind) {
      v = {kind, x};
      if (field) field->value = x;
    };
    auto unsigned_value = [&](std::uint64_t x, Kind kind) {
      v = {kind, static_cast<std::int64_t>(x)};
      if (field) field->value = x;
    };
    switch (type) {
      case ArgType::i8:
        signed_value(load<std::int8_t>(p), Kind::int32);
        break;
      case ArgType::i16:
        signed_value(load<std::int16_t>(p), Kind::int32);
        break;
      case ArgType::i32:
        signed_value(load<std::int32_t>(p), Kind::int32);
        break;
      case ArgType::i64:
        signed_value(load<std::int64_t>(p), Kind::int64);
        break;
      // Promoted to int, as printf receives them.
      case ArgType::u8:
        unsigned_value(load<std::uint8_t>(p), Kind::int32);
        break;
      case ArgType::u16:
        unsigned_value(load<std::uint16_t>(p), Kind::int32);
        break;
      case ArgType::u32:
        unsigned_value(load<std::uint32_t>(p), Kind::uint32);
        break;
      case ArgType::u64:
        unsigned_value(load<std::uint64_t>(p), Kind::uint64);
        break;
      case ArgType::boolean:
        v = {Kind::int32, load<std::uint8_t>(p) != 0 ? 1 : 0};
        if (field) field->value = load<std::uint8_t>(p) != 0;
        break;
      case ArgType::character:
        v = {Kind::int32, load<char>(p)};
        if (field) field->value = load<char>(p);
        break;
      case ArgType::f32:
      case ArgType::f64: {
        const double d = type == ArgType::f32 ? double{load<float>(p)} : load<double>(p);
        v = {Kind::floating, 0, d};
        if (field) field->value = d;
        break;
      }
      case ArgType::pointer:
        v = {Kind::pointer, static_cast<std::int64_t>(load<std::uint64_t>(p))};
        if (field) field->value = Pointer{load<std::uint64_t>(p)};
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
        v = {Kind::string, 0, 0, std::string_view(text, length)};
        if (field) {
          field->truncated = truncated;
          set_text(field->value, text, length);
        }
        offset += 4 + length;
        break;
      }
    }
    offset += fixed;
  }
  thread_local Message message;
  message.clear();
  format_printf(site, values, message);
  reuse_assign(record.message, message.data(), message.size());
  return offset <= size;
}

}  // namespace blackbox::reader

namespace blackbox {

bool decode_arguments(Record& r) {
  if (r.encoded.empty()) return false;
  const reader::SiteInfo& site = reader::EncodedArgsAccess::site(r.encoded);
  const std::vector<std::byte>& bytes = reader::EncodedArgsAccess::bytes(r.encoded);
  const bool ok = reader::decode_args(site, bytes.data(), bytes.size(), r);
  reader::EncodedArgsAccess::clear(r.encoded);
  return ok;
}

}  // namespace blackbox
