// The fuzz targets' differential check of encoded arguments (ReadFilter::encoded): a
// record's JSON and logfmt lines written from them must be those of the record decoded.
#pragma once

#include "blackbox/reader.hpp"
#include "blackbox/text.hpp"

namespace blackbox::fuzz {

class EncodedCheck {
 public:
  // Traps on a difference (or a record a reader left without encoded arguments).
  void check(const Record& r) {
    if (r.encoded.empty()) __builtin_trap();
    decoded_ = r;
    if (!decode_arguments(decoded_)) return;  // damaged: the decoder says so too
    for (auto* renderer : {&json_, &logfmt_}) {
      from_encoded_.clear();
      from_decoded_.clear();
      renderer->render(r, from_encoded_);
      renderer->render(decoded_, from_decoded_);
      if (from_encoded_.view() != from_decoded_.view()) __builtin_trap();
    }
  }

 private:
  text::Renderer json_{text::Format::json, false, true}, logfmt_{text::Format::logfmt, false, true};
  text::Buffer from_encoded_{4096}, from_decoded_{4096};
  Record decoded_;
};

}  // namespace blackbox::fuzz
