// Archive frames: exact round trips, truncation at every position, and random bit flips,
// checking the promise of the format: damage costs only the damaged frames, and every
// damaged byte is reported.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "format/frame.hpp"

namespace {

using blackbox::archive::append_frame;
using blackbox::archive::FrameScanner;
using blackbox::archive::kFrameHeaderBytes;

struct Written {
  std::uint64_t offset;
  std::uint16_t type;
  std::uint16_t flags;
  std::vector<std::byte> payload;
};

// An archive of `frames` frames with random types, flags and payloads (some empty, some
// containing the frame magic, to tempt the resynchroniser).
std::vector<std::byte> make_archive(std::mt19937_64& rng, int frames, std::size_t max_payload,
                                    std::vector<Written>& written) {
  std::vector<std::byte> out;
  for (int i = 0; i < frames; ++i) {
    Written w{
        out.size(), static_cast<std::uint16_t>(rng() % 6), static_cast<std::uint16_t>(rng()), {}};
    w.payload.resize(rng() % (max_payload + 1));
    for (auto& b : w.payload) b = static_cast<std::byte>(rng());
    if (w.payload.size() >= 8 && rng() % 3 == 0) {
      std::memcpy(w.payload.data() + rng() % (w.payload.size() - 3),
                  &blackbox::archive::kFrameMagic, 4);
    }
    EXPECT_TRUE(append_frame(out, w.type, w.flags, w.payload));
    written.push_back(std::move(w));
  }
  return out;
}

struct Scan {
  std::vector<blackbox::archive::FrameView> frames;
  std::vector<blackbox::archive::Damage> damage;
};

Scan scan(std::span<const std::byte> bytes) {
  FrameScanner scanner(bytes);
  Scan s;
  while (auto f = scanner.next()) s.frames.push_back(*f);
  s.damage = scanner.damage();
  return s;
}

bool same(const blackbox::archive::FrameView& f, const Written& w) {
  return f.offset == w.offset && f.type == w.type && f.flags == w.flags &&
         f.payload.size() == w.payload.size() &&
         std::equal(f.payload.begin(), f.payload.end(), w.payload.begin());
}

TEST(ArchiveFrameTest, FramesRoundTripExactly) {
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Written> written;
  const auto bytes = make_archive(rng, 300, 3000, written);
  const Scan s = scan(bytes);
  EXPECT_TRUE(s.damage.empty());
  ASSERT_EQ(s.frames.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) EXPECT_TRUE(same(s.frames[i], written[i])) << i;
}

TEST(ArchiveFrameTest, OversizedPayloadIsRefused) {
  std::vector<std::byte> out;
  std::vector<std::byte> huge(blackbox::archive::kMaxFramePayload + 1);
  EXPECT_FALSE(append_frame(out, 1, 0, huge));
  EXPECT_TRUE(out.empty());
}

TEST(ArchiveFrameTest, TruncationAtEveryPositionKeepsEveryCompleteFrame) {
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Written> written;
  const auto bytes = make_archive(rng, 12, 120, written);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    const Scan s = scan(std::span(bytes).first(cut));
    std::size_t complete = 0;
    while (complete < written.size() &&
           written[complete].offset + kFrameHeaderBytes + written[complete].payload.size() <= cut) {
      ++complete;
    }
    ASSERT_EQ(s.frames.size(), complete) << "cut at " << cut;
    for (std::size_t i = 0; i < complete; ++i) ASSERT_TRUE(same(s.frames[i], written[i]));
    // The torn tail, if any, is reported exactly: from the torn frame to the cut.
    const std::uint64_t tail = complete < written.size() ? written[complete].offset : cut;
    if (tail < cut) {
      ASSERT_EQ(s.damage.size(), 1u) << "cut at " << cut;
      EXPECT_EQ(s.damage[0].offset, tail);
      EXPECT_EQ(s.damage[0].length, cut - tail);
      EXPECT_NE(s.damage[0].reason.find("truncated"), std::string::npos) << s.damage[0].reason;
    } else {
      EXPECT_TRUE(s.damage.empty()) << "cut at " << cut;
    }
  }
}

TEST(ArchiveFrameTest, BitFlipsCostOnlyTheFramesTheyHitAndAreAllReported) {
  std::mt19937_64 rng(std::random_device{}());
  for (int round = 0; round < 200; ++round) {
    std::vector<Written> written;
    auto bytes = make_archive(rng, 60, 400, written);
    std::set<std::uint64_t> flipped;
    const std::size_t flips = 1 + rng() % 8;
    while (flipped.size() < flips) {
      // Distinct positions: two flips of the same bit would cancel out.
      const std::uint64_t at = rng() % bytes.size();
      if (!flipped.insert(at).second) continue;
      bytes[at] ^= static_cast<std::byte>(1u << (rng() % 8));
    }
    const Scan s = scan(bytes);
    // Every frame no flip touched comes back, unchanged, at its offset.
    std::size_t next = 0;
    for (const Written& w : written) {
      const std::uint64_t end = w.offset + kFrameHeaderBytes + w.payload.size();
      const bool hit =
          flipped.lower_bound(w.offset) != flipped.end() && *flipped.lower_bound(w.offset) < end;
      if (hit) continue;
      while (next < s.frames.size() && s.frames[next].offset < w.offset) ++next;
      ASSERT_LT(next, s.frames.size()) << "round " << round << " lost frame at " << w.offset;
      ASSERT_TRUE(same(s.frames[next], w)) << "round " << round;
    }
    // No frame a flip touched is returned (its checksums fail), and each flip lies in a
    // reported damage range.
    for (const auto& f : s.frames) {
      const auto it = flipped.lower_bound(f.offset);
      EXPECT_TRUE(it == flipped.end() || *it >= f.offset + kFrameHeaderBytes + f.payload.size());
    }
    for (std::uint64_t at : flipped) {
      bool covered = false;
      for (const auto& d : s.damage) covered |= at >= d.offset && at < d.offset + d.length;
      EXPECT_TRUE(covered) << "round " << round << " flip at " << at;
    }
  }
}

}  // namespace
