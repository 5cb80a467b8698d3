// A JSON or logfmt line's message and fields written straight from a record's encoded
// arguments (Record::encoded), without the Record's decoded message and fields: each value
// is formatted once, into the message, and its text copied into its field where the two are
// the same; the template's literals and the fields' keys are escaped once per call site.
// The text is byte for byte what text::Renderer writes from a decoded record (the values
// are formatted by the decoder's own format_arg, and every other field by
// append_json_value / append_logfmt_field).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "blackbox/text.hpp"
#include "format/site_entry.hpp"

namespace blackbox::reader {

class EncodedLine {
 public:
  // `site` must outlive this (the renderer's entry for the site keeps it).
  EncodedLine(const ring::SiteInfo& site, text::Format format);

  // False for a site whose lines are written from decoded records instead: printf formats
  // and damaged templates (rare; their text has rules of its own).
  [[nodiscard]] bool usable() const noexcept { return usable_; }

  // Appends a record's message and fields (its arguments [data, data + size)):
  //   JSON    ,"message":"...","fields":{...}  and ,"truncated":[...] if a string was cut
  //   logfmt  " msg=... name=value ..."        and " truncated=true"
  // Returns false, appending nothing, if the bytes do not fit the site's types.
  bool write(const std::byte* data, std::size_t size, text::Buffer& out);

 private:
  // How a value's message text is written (its placeholder's spec and its type).
  enum class MessageText : std::uint8_t {
    integer,    // plain "{}": its decimal digits
    boolean,    // plain "{}": true or false
    f64,        // plain "{}" or "{:.Nf}": format_arg's short paths, no escaping needed
    string,     // plain "{}" or a pre-formatted string: the recorded bytes, escaped
    formatted,  // anything else: format_arg into a scratch buffer, then escaped
  };
  // How its field's value is written.
  enum class FieldText : std::uint8_t {
    same,    // the message's text again (integers, booleans, plain finite doubles)
    quoted,  // the message's text as a string (strings, plain characters and pointers)
    string,  // the recorded string as a string (a string with a spec of its own)
    value,   // as append_json_value / append_logfmt_field write the typed value
  };
  // A piece of text the line repeats (a literal, a key): up to 32 bytes in a fixed slot
  // copied whole, without a call to memcpy; longer ones as they are.
  struct Piece {
    std::array<char, 32> slot{};
    std::uint8_t size = 0;  // in the slot; 0: `text` holds it (or it is empty)
    std::string text;
    void set(std::string s);
    void append_to(text::Buffer& out) const {
      if (size != 0) [[likely]] {
        std::memcpy(out.reserve(slot.size()), slot.data(), slot.size());
        out.added(size);
      } else if (!text.empty()) {
        out += text;
      }
    }
  };
  struct Arg {
    detail::ArgType type;
    MessageText message;
    FieldText field;
    Piece key;             // JSON: "name": with a comma before all but the first; logfmt: " name="
    std::string list_key;  // JSON: "name", for the "truncated" list
    Piece literal;         // the template's text after it, escaped as in a JSON string
  };
  // Where a value's text went in the line: offsets from the message's start.
  struct Span {
    std::uint32_t at, size;            // its text in the message
    std::uint32_t data_at, data_size;  // its bytes in the arguments (a string's length)
    bool special;                      // logfmt: it needs quotes (a space, '=', an escape)
    bool as_value;   // its field is written from the typed value (FieldText::value, inf, nan)
    bool truncated;  // a string cut at the call site
  };

  const ring::SiteInfo& site_;
  bool json_;
  bool usable_ = false;
  Piece message_head_;  // ,"message":" and the first literal (logfmt: " msg=" and a quote
                        // if the literals need one)
  std::size_t first_literal_size_ = 0;  // escaped
  bool literal_special_ = false;        // logfmt: some literal needs the message quoted
  std::vector<Arg> args_;
  std::vector<Span> spans_;     // per argument, reused from line to line
  fmt::memory_buffer scratch_;  // MessageText::formatted
};

}  // namespace blackbox::reader
