// JSON and logfmt message and fields from encoded arguments (encoded_line.hpp).
#include "reader/encoded_line.hpp"

#include <cmath>
#include <cstring>

#include "reader/format_arg.hpp"
#include "reader/text_parts.hpp"

namespace blackbox::reader {
namespace {

using detail::ArgType;
using text::Buffer;

std::string json_body(std::string_view s) {
  std::string out(text::kJsonEscapeRoom * s.size(), '\0');
  out.resize(static_cast<std::size_t>(text::put_json_body(s, out.data()) - out.data()));
  return out;
}

// Appends `s` escaped as in a JSON string (no quotes).
void append_json_body(std::string_view s, Buffer& out) {
  char* const d = out.reserve(text::kJsonEscapeRoom * s.size());
  out.added(static_cast<std::size_t>(text::put_json_body(s, d) - d));
}

// Appends the `size` bytes at offset `from` of `out` itself.
void append_own(Buffer& out, std::size_t from, std::size_t size) {
  char* const d = out.reserve(size);  // may move the buffer: read from it after
  std::memcpy(d, out.data() + from, size);
  out.added(size);
}

// The typed value of a fixed-size argument, as the decoder puts it in a field.
Value value_of(ArgType type, const std::byte* p) {
  switch (type) {
    case ArgType::i8:
      return std::int64_t{load<std::int8_t>(p)};
    case ArgType::i16:
      return std::int64_t{load<std::int16_t>(p)};
    case ArgType::i32:
      return std::int64_t{load<std::int32_t>(p)};
    case ArgType::i64:
      return load<std::int64_t>(p);
    case ArgType::u8:
      return std::uint64_t{load<std::uint8_t>(p)};
    case ArgType::u16:
      return std::uint64_t{load<std::uint16_t>(p)};
    case ArgType::u32:
      return std::uint64_t{load<std::uint32_t>(p)};
    case ArgType::u64:
      return load<std::uint64_t>(p);
    case ArgType::f32:
      return double{load<float>(p)};
    case ArgType::f64:
      return load<double>(p);
    case ArgType::boolean:
      return load<std::uint8_t>(p) != 0;
    case ArgType::character:
      return load<char>(p);
    case ArgType::pointer:
      return Pointer{load<std::uint64_t>(p)};
    case ArgType::string:
    case ArgType::formatted:
      break;
  }
  return std::int64_t{0};
}

// A fixed-size argument formatted by its placeholder, as decode_args() formats it.
void format_fixed(Message& out, const ring::SiteInfo& site, std::size_t i, const std::byte* p) {
  switch (site.types[i]) {
    case ArgType::i8:
      return format_arg(out, site, i, static_cast<signed char>(load<std::int8_t>(p)));
    case ArgType::i16:
      return format_arg(out, site, i, load<std::int16_t>(p));
    case ArgType::i32:
      return format_arg(out, site, i, load<std::int32_t>(p));
    case ArgType::i64:
      return format_arg(out, site, i, load<std::int64_t>(p));
    case ArgType::u8:
      return format_arg(out, site, i, static_cast<unsigned char>(load<std::uint8_t>(p)));
    case ArgType::u16:
      return format_arg(out, site, i, load<std::uint16_t>(p));
    case ArgType::u32:
      return format_arg(out, site, i, load<std::uint32_t>(p));
    case ArgType::u64:
      return format_arg(out, site, i, load<std::uint64_t>(p));
    case ArgType::f32:
      return format_arg(out, site, i, load<float>(p));
    case ArgType::f64:
      return format_arg(out, site, i, load<double>(p));
    case ArgType::boolean:
      return format_arg(out, site, i, load<std::uint8_t>(p) != 0);
    case ArgType::character:
      return format_arg(out, site, i, load<char>(p));
    case ArgType::pointer:
      return format_arg(
          out, site, i,
          reinterpret_cast<const void*>(static_cast<std::uintptr_t>(load<std::uint64_t>(p))));
    case ArgType::string:
    case ArgType::formatted:
      break;
  }
}

// An integer argument's digits, straight into the line.
void append_integer(ArgType type, const std::byte* p, Buffer& out) {
  char* const d = out.reserve(kFixedRoom);
  char* end = d;
  switch (type) {
    case ArgType::i8:
      end = short_decimal::put_integer(load<std::int8_t>(p), d);
      break;
    case ArgType::i16:
      end = short_decimal::put_integer(load<std::int16_t>(p), d);
      break;
    case ArgType::i32:
      end = short_decimal::put_integer(load<std::int32_t>(p), d);
      break;
    case ArgType::i64:
      end = short_decimal::put_integer(load<std::int64_t>(p), d);
      break;
    case ArgType::u8:
      end = short_decimal::put_integer(load<std::uint8_t>(p), d);
      break;
    case ArgType::u16:
      end = short_decimal::put_integer(load<std::uint16_t>(p), d);
      break;
    case ArgType::u32:
      end = short_decimal::put_integer(load<std::uint32_t>(p), d);
      break;
    default:
      end = short_decimal::put_integer(load<std::uint64_t>(p), d);
  }
  out.added(static_cast<std::size_t>(end - d));
}

bool is_integer(ArgType t) {
  switch (t) {
    case ArgType::i8:
    case ArgType::i16:
    case ArgType::i32:
    case ArgType::i64:
    case ArgType::u8:
    case ArgType::u16:
    case ArgType::u32:
    case ArgType::u64:
      return true;
    default:
      return false;
  }
}

}  // namespace

void EncodedLine::Piece::set(std::string s) {
  size = s.size() <= slot.size() ? static_cast<std::uint8_t>(s.size()) : 0;
  if (size != 0) {
    std::memcpy(slot.data(), s.data(), size);
  } else {
    text = std::move(s);
  }
}

EncodedLine::EncodedLine(const ring::SiteInfo& site, text::Format format)
    : site_(site), json_(format == text::Format::json) {
  const std::size_t n = site.types.size();
  if (!site.template_ok || site.printf_format ||
      (format != text::Format::json && format != text::Format::logfmt) ||
      site.literals.size() != n + 1 || site.names.size() != n || site.plain.size() != n ||
      site.fixed.size() != n || site.specs.size() != n) {
    return;
  }
  literal_special_ = text::has_logfmt_special(site.literals[0]);
  for (std::size_t i = 0; i < n; ++i) {
    Arg a;
    a.type = site.types[i];
    const bool plain = site.plain[i];
    if (is_integer(a.type)) {
      a.message = plain ? MessageText::integer : MessageText::formatted;
      a.field = plain ? FieldText::same : FieldText::value;
    } else {
      switch (a.type) {
        case ArgType::boolean:
          a.message = plain ? MessageText::boolean : MessageText::formatted;
          a.field = plain ? FieldText::same : FieldText::value;
          break;
        case ArgType::f64:
          a.message = plain || site.fixed[i] >= 0 ? MessageText::f64 : MessageText::formatted;
          a.field = plain ? FieldText::same : FieldText::value;  // "same" only when finite
          break;
        case ArgType::character:
        case ArgType::pointer:
          // Plain "{}" writes a character as itself and a pointer as 0x..., as its field does.
          a.message = MessageText::formatted;
          a.field = plain ? FieldText::quoted : FieldText::value;
          break;
        case ArgType::string:
          a.message = plain ? MessageText::string : MessageText::formatted;
          a.field = plain ? FieldText::quoted : FieldText::string;
          break;
        case ArgType::formatted:  // its spec was applied when it was logged
          a.message = MessageText::string;
          a.field = FieldText::quoted;
          break;
        default:  // f32: "{}" of a float is not the shortest double of its field
          a.message = MessageText::formatted;
          a.field = FieldText::value;
      }
    }
    // The keys as Renderer::write_field_key writes them: the name, or for "{}" the position.
    const std::string& name = site.names[i];
    const std::string index = std::to_string(i);
    if (json_) {
      a.list_key = name.empty() ? "\"" + index + "\"" : "\"" + json_body(name) + "\"";
      a.key.set((i != 0 ? "," : "") + a.list_key + ":");
    } else {
      a.key.set(" " + (name.empty() ? "arg" + index : name) + "=");
    }
    a.literal.set(json_body(site.literals[i + 1]));
    literal_special_ |= text::has_logfmt_special(site.literals[i + 1]);
    args_.push_back(std::move(a));
  }
  // The message's start: logfmt quotes it at once when a literal needs it (nearly always: a
  // space), else the values decide (write()).
  const std::string head = json_ ? ",\"message\":\"" : literal_special_ ? " msg=\"" : " msg=";
  const std::string first_literal = json_body(site.literals[0]);
  first_literal_size_ = first_literal.size();
  message_head_.set(head + first_literal);
  spans_.resize(n);
  usable_ = true;
}

bool EncodedLine::write(const std::byte* data, std::size_t size, Buffer& out) {
  const std::size_t line = out.size();
  // logfmt: the message is quoted when any of its bytes needs it, or when it is empty. A
  // template with a space (nearly all) decides it at once; else the values do, and the
  // message is written bare, then quoted if one of them needed it.
  bool special = literal_special_;
  const bool open_quote = json_ || special;
  message_head_.append_to(out);
  // Where the message's text starts (after the quote, if any): first literal's start.
  std::size_t body = out.size() - first_literal_size_;
  bool truncated = false;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < args_.size(); ++i) {
    const Arg& a = args_[i];
    Span& s = spans_[i];
    s.at = static_cast<std::uint32_t>(out.size() - body);
    s.special = false;
    s.as_value = a.field == FieldText::value;
    s.truncated = false;
    s.data_at = static_cast<std::uint32_t>(offset);
    const std::uint32_t fixed = detail::fixed_size(a.type);
    if (fixed > size - offset) {
      out.truncate(line);
      return false;
    }
    const std::byte* const p = data + offset;
    std::string_view raw;  // a string argument's recorded bytes
    if (fixed == 0) {
      if (4 > size - offset) {
        out.truncate(line);
        return false;
      }
      const auto word = load<std::uint32_t>(p);
      const std::uint32_t length = word & detail::kStringLengthMask;
      if (length > size - offset - 4) {
        out.truncate(line);
        return false;
      }
      raw = {reinterpret_cast<const char*>(p + 4), length};
      s.truncated = (word & detail::kStringTruncated) != 0;
      s.data_size = length;
      truncated |= s.truncated;
      offset += 4 + length;
    }
    offset += fixed;
    switch (a.message) {
      case MessageText::integer:
        append_integer(a.type, p, out);
        break;
      case MessageText::boolean:
        out += load<std::uint8_t>(p) != 0 ? std::string_view("true") : std::string_view("false");
        break;
      case MessageText::f64: {
        // format_arg's short ways, written in place; format_arg itself when they decline.
        const double x = load<double>(p);
        char* const d = out.reserve(kFixedRoom);
        const std::size_t n =
            site_.plain[i] ? write_shortest(x, d) : write_short_fixed(x, site_.fixed[i], d);
        if (n != 0) {
          out.added(n);
        } else {
          scratch_.clear();
          format_arg(scratch_, site_, i, x);
          append_json_body({scratch_.data(), scratch_.size()}, out);
        }
        s.as_value |= !std::isfinite(x);  // its field is then a string
        break;
      }
      case MessageText::string:
        append_json_body(raw, out);
        if (!json_) s.special = text::has_logfmt_special(raw);
        break;
      case MessageText::formatted: {
        scratch_.clear();
        if (fixed == 0) {
          format_arg(scratch_, site_, i, fmt::string_view(raw.data(), raw.size()));
        } else {
          format_fixed(scratch_, site_, i, p);
        }
        const std::string_view text{scratch_.data(), scratch_.size()};
        append_json_body(text, out);
        if (!json_) s.special = text::has_logfmt_special(text);
        break;
      }
    }
    s.size = static_cast<std::uint32_t>(out.size() - body - s.at);
    special |= s.special;
    a.literal.append_to(out);
  }
  if (open_quote) {
    out += '"';
  } else if (special || out.size() == body) {
    // Bare so far, but a value needs quotes (or the message is empty): quoted after all.
    const std::string text(out.data() + body, out.size() - body);
    out.truncate(body);
    out += '"';
    out += text;
    out += '"';
    body += 1;
  }

  if (json_) out += ",\"fields\":{";
  for (std::size_t i = 0; i < args_.size(); ++i) {
    const Arg& a = args_[i];
    const Span& s = spans_[i];
    a.key.append_to(out);
    if (s.as_value) {
      const Value v = value_of(a.type, data + s.data_at);
      json_ ? text::append_json_value(v, out) : text::append_logfmt_field(v, out);
      continue;
    }
    switch (a.field) {
      case FieldText::same:
        append_own(out, body + s.at, s.size);
        break;
      case FieldText::quoted: {
        // A JSON string always; in logfmt only if it needs quotes (or is empty).
        const bool quote = json_ || s.special || s.size == 0;
        if (quote) out += '"';
        append_own(out, body + s.at, s.size);
        if (quote) out += '"';
        break;
      }
      case FieldText::string: {
        const std::string_view raw{reinterpret_cast<const char*>(data + s.data_at + 4),
                                   s.data_size};
        json_ ? text::append_json_string(raw, out) : text::append_logfmt_value(raw, out);
        break;
      }
      case FieldText::value:
        break;  // as_value, above
    }
  }
  if (json_) {
    out += '}';
    if (truncated) {
      // Which fields the call site cut (by their key in "fields").
      out += ",\"truncated\":[";
      bool first = true;
      for (std::size_t i = 0; i < args_.size(); ++i) {
        if (!spans_[i].truncated) continue;
        if (!first) out += ',';
        first = false;
        out += args_[i].list_key;
      }
      out += ']';
    }
  } else if (truncated) {
    out += " truncated=true";
  }
  return true;
}

}  // namespace blackbox::reader
