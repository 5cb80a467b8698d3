// Chunk codec 2 (format/chunk_codes.hpp, bit_stream.hpp, chunk_encoder / chunk_decoder):
// the bit codes round-trip every value, and whole chunks of random records of every
// argument type come back byte for byte, also when a reader passes over some sites (their
// streams are never read) or filters records by time and thread.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "format/bit_stream.hpp"
#include "format/chunk_codes.hpp"
#include "format/chunk_decoder.hpp"
#include "format/chunk_encoder.hpp"

namespace {

namespace bbx = blackbox::archive;
using blackbox::detail::ArgType;

// Values that stress a code: small, around powers of two, the extremes, and random.
std::vector<std::uint64_t> hard_values(std::mt19937_64& rng) {
  std::vector<std::uint64_t> v = {0, 1, 2, 3, ~0ull, ~0ull - 1, 1ull << 63, (1ull << 63) - 1};
  for (unsigned b = 1; b < 64; ++b) {
    v.push_back((1ull << b) - 1);
    v.push_back(1ull << b);
    v.push_back((1ull << b) + 1);
  }
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t r = rng();
    v.push_back(r >> (r % 64));  // every magnitude
  }
  return v;
}

TEST(BitStream, EveryCodeReadsBackWhatWasWritten) {
  std::mt19937_64 rng(1);
  const std::vector<std::uint64_t> values = hard_values(rng);
  std::vector<std::uint8_t> buf(values.size() * 64 + bbx::kBitSlack);
  bbx::BitWriter w{buf.data(), 0, 0};
  // Rice states fed the same values on both sides, in runs of like magnitudes (so k moves
  // up and down, and values escape at small k).
  bbx::RiceState wr, rr;
  bbx::codes::ArgState2 wi, ri;
  bbx::codes::StepList ws, rs;
  bbx::codes::KeyList wk, rk;
  std::vector<std::uint32_t> keys;
  for (const std::uint64_t v : values) {
    w.put(v & 0x7F, 7);
    bbx::put_wide(w, v);
    bbx::put_rice(w, wr, v);
    bbx::codes::put_int(w, wi, v);
    bbx::codes::put_step(w, ws, static_cast<std::int64_t>(v % 7 == 0 ? v : v % 5));
    const std::uint32_t key =
        static_cast<std::uint32_t>(v % 9) * 4 + static_cast<std::uint32_t>(v % 3);
    keys.push_back(key);
    bbx::codes::put_key(w, wk, key);
  }
  w.flush();
  const std::size_t bytes = w.bytes_from(buf.data());
  bbx::BitReader r{buf.data(), 0, bytes * 8};
  bool ok = true;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint64_t v = values[i];
    ASSERT_EQ(r.get(7), v & 0x7F) << i;
    ASSERT_EQ(bbx::get_wide(r, ok), v) << i;
    ASSERT_EQ(bbx::get_rice(r, rr, ok), v) << i;
    ASSERT_EQ(bbx::codes::get_int(r, ri, ok), v) << i;
    ASSERT_EQ(bbx::codes::get_step(r, rs, ok), static_cast<std::int64_t>(v % 7 == 0 ? v : v % 5))
        << i;
    std::uint32_t key;
    ASSERT_TRUE(bbx::codes::get_key(r, rk, key)) << i;
    ASSERT_EQ(key, keys[i]) << i;
    ASSERT_TRUE(ok) << i;
    ASSERT_FALSE(r.overrun()) << i;
  }
  // Exactly the bits written (the last byte's padding aside), and no more.
  EXPECT_LE(r.pos, bytes * 8);
  EXPECT_GT(r.pos + 8, bytes * 8);
}

TEST(BitStream, ReadingPastTheEndIsSeenNotFollowed) {
  std::vector<std::uint8_t> buf(4 + bbx::kBitSlack, 0xFF);
  std::memset(buf.data() + 4, 0, bbx::kBitSlack);
  bbx::BitReader r{buf.data(), 0, 32};
  bool ok = true;
  bbx::RiceState s;
  for (int i = 0; i < 100; ++i) (void)bbx::get_rice(r, s, ok);  // 32 ones: then the slack
  EXPECT_TRUE(r.overrun());
  // A width over 64 is malformed.
  std::vector<std::uint8_t> wide(8 + bbx::kBitSlack, 0);
  wide[0] = 65;
  bbx::BitReader rw{wide.data(), 0, 64};
  (void)bbx::get_wide(rw, ok);
  EXPECT_FALSE(ok);
}

TEST(ChunkCodec2, FloatsKeepTheirBitsAndShortDecimalsCostFewBits) {
  std::vector<std::uint8_t> buf(1 << 20);
  bbx::BitWriter w{buf.data(), 0, 0};
  bbx::codes::ArgState2 ws, rs;
  std::vector<std::uint64_t> bits;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 3000; ++i) {
    double d;
    const std::uint64_t r = rng();
    switch (i % 3) {
      case 0:
        d = static_cast<double>(r % 100000) / 1000;
        break;
      case 1:
        std::memcpy(&d, &r, 8);
        break;
      default:
        d = i * 0.25;
        break;
    }
    std::uint64_t b;
    std::memcpy(&b, &d, 8);
    bits.push_back(b);
    bbx::codes::put_f64(w, ws, b);
  }
  w.flush();
  bbx::BitReader r{buf.data(), 0, w.bytes_from(buf.data()) * 8};
  bool ok = true;
  for (std::size_t i = 0; i < bits.size(); ++i) {
    ASSERT_EQ(bbx::codes::get_f64(r, rs, ok), bits[i]) << i;
  }
  EXPECT_TRUE(ok);
  // A run of short decimals with 3 places: ~20 bits each, not 64.
  bbx::BitWriter w2{buf.data(), 0, 0};
  bbx::codes::ArgState2 s2;
  for (int i = 0; i < 1000; ++i) {
    const double d = static_cast<double>(rng() % 100000) / 1000;
    std::uint64_t b;
    std::memcpy(&b, &d, 8);
    bbx::codes::put_f64(w2, s2, b);
  }
  w2.flush();
  EXPECT_LT(w2.bytes_from(buf.data()) * 8, 1000u * 22);
}

// A batch of refused records (unknown sites) ends and starts a run for each: the encoder's
// room for that is checked here (under AddressSanitizer, any write past it is an error).
TEST(ChunkCodec2, ABatchOfRefusedRecordsStaysInItsRoom) {
  bbx::ChunkEncoder enc;
  enc.set_clock(bbx::TickConverter::from(0, 0, 1000, 1000));
  const std::vector<ArgType> types = {ArgType::u32};
  enc.define_site(1, blackbox::Level::info, types);
  std::vector<std::vector<std::byte>> records;
  for (int i = 0; i < 256; ++i) {
    std::vector<std::byte> r(16);
    blackbox::detail::RecordHeader h{16, 1000u + static_cast<std::uint32_t>(i), 1u};
    std::memcpy(r.data(), &h, 16);
    records.push_back(r);
  }
  std::vector<bbx::ChunkEncoder::BatchRecord> batch;
  for (const auto& r : records) batch.push_back({r.data(), 16});
  const char name[17] = "sixteen-byte-nam";
  for (std::uint32_t round = 0; round < 40; ++round) {
    EXPECT_EQ(
        enc.add_batch(65535, 0xFFFF'FFFFu, name, ~0ull - 1000000 + round * 256, batch.data(), 256),
        256u);
  }
  EXPECT_EQ(enc.record_count(), 0u);
  std::vector<std::byte> payload;
  EXPECT_TRUE(enc.finish(1, payload));
}

// A ring record: header (site, ticks, optional trace), then the arguments, padded.
std::vector<std::byte> ring_record(std::uint32_t site, std::uint64_t ticks,
                                   const std::vector<std::uint8_t>& trace,
                                   const std::vector<std::uint8_t>& args) {
  const std::size_t body = trace.size() + args.size();
  std::vector<std::byte> out(16 + (body + 7) / 8 * 8);
  const std::uint32_t site_word = site | (trace.empty() ? 0 : blackbox::detail::kSiteHasTrace);
  blackbox::detail::RecordHeader h{static_cast<std::uint32_t>(out.size()), site_word, ticks};
  std::memcpy(out.data(), &h, sizeof h);
  if (!trace.empty()) std::memcpy(out.data() + 16, trace.data(), trace.size());
  if (!args.empty()) std::memcpy(out.data() + 16 + trace.size(), args.data(), args.size());
  return out;
}

// memcmp, but for empty ranges too (whose data() may be null).
bool same_bytes(const void* a, const void* b, std::size_t n) {
  return n == 0 || std::memcmp(a, b, n) == 0;
}

struct Logged {
  std::uint32_t slot, tid, site;
  std::uint64_t seq;
  std::int64_t ns;
  std::vector<std::uint8_t> trace;
  std::vector<std::uint8_t> args;  // wire form
};

// Random records of seven sites covering every argument type, from three threads in two
// slots, with traces, runs broken by sequence gaps, and values that repeat, count, jump
// and take every width; encoded in one chunk.
class RandomChunk : public ::testing::Test {
 protected:
  void SetUp() override {
    types_ = {
        {},
        {ArgType::i8, ArgType::u8, ArgType::boolean, ArgType::character},
        {ArgType::i16, ArgType::u16, ArgType::i32, ArgType::u32},
        {ArgType::i64, ArgType::u64, ArgType::pointer},
        {ArgType::f32, ArgType::f64},
        {ArgType::string, ArgType::u64, ArgType::formatted, ArgType::f64},
        {ArgType::f64, ArgType::f64, ArgType::i32, ArgType::string},
        {},
    };
    std::mt19937_64 rng(42);
    const std::vector<std::string> words = {
        "", "a", "user17@example.com", "GET /api/v1/orders", std::string(300, 'x'), "déjà vu", "a"};
    bbx::ChunkEncoder enc;
    enc.set_clock(bbx::TickConverter::from(0, 0, 1'000'000, 10'000'000));  // 10 ns a tick
    for (std::uint32_t s = 1; s < types_.size(); ++s) {
      enc.define_site(s, blackbox::Level::info, types_[s]);
    }
    struct Thread {
      std::uint32_t slot, tid;
      std::uint64_t seq, ticks;
      std::vector<std::uint8_t> trace;
    };
    std::vector<Thread> threads = {
        {0, 100, 0, 1000, {}}, {1, 200, 50, 900, {}}, {0, 300, 7, 5000, {}}};
    std::uint64_t counter = 0;
    std::map<std::uint32_t, std::int64_t> slot_floor;  // a slot's times never go back
    for (int i = 0; i < 6000; ++i) {
      Thread& t = threads[rng() % threads.size()];
      const auto site = static_cast<std::uint32_t>(1 + rng() % (types_.size() - 1));
      if (rng() % 50 == 0) t.seq += 1 + rng() % 3;  // a gap: a new run
      if (rng() % 40 == 0) {
        t.trace.assign(24, 0);
        for (auto& b : t.trace) b = static_cast<std::uint8_t>(rng());
      } else if (rng() % 60 == 0) {
        t.trace.clear();
      }
      t.ticks += rng() % 4 == 0 ? rng() % 100000 : 1 + rng() % 3;
      std::vector<std::uint8_t> args;
      auto put = [&args](const void* p, std::size_t n) {
        args.insert(args.end(), static_cast<const std::uint8_t*>(p),
                    static_cast<const std::uint8_t*>(p) + n);
      };
      ++counter;
      for (const ArgType type : types_[site]) {
        const std::uint64_t r = rng();
        const std::uint64_t v = r % 3 == 0 ? counter : r % 3 == 1 ? 200 : r >> (r % 64);
        const std::uint32_t width = blackbox::detail::fixed_size(type);
        if (type == ArgType::f64) {
          const double d = r % 2 == 0 ? static_cast<double>(r % 100000) / 1000
                                      : static_cast<double>(counter) * 0.5;
          put(&d, 8);
        } else if (type == ArgType::f32) {
          const float f = static_cast<float>(r % 1000) / 8;
          put(&f, 4);
        } else if (width != 0) {
          put(&v, width);
        } else {
          const std::string& s = words[r % words.size()];
          std::uint32_t word = static_cast<std::uint32_t>(s.size());
          if (r % 97 == 0) word |= blackbox::detail::kStringTruncated;
          put(&word, 4);
          put(s.data(), s.size());
        }
      }
      const auto rec = ring_record(site, t.ticks, t.trace, args);
      ASSERT_TRUE(enc.add(t.slot, t.tid, "worker", t.seq, rec.data(),
                          static_cast<std::uint32_t>(rec.size())));
      const std::int64_t ns = std::max(static_cast<std::int64_t>(t.ticks) * 10, slot_floor[t.slot]);
      slot_floor[t.slot] = ns;
      logged_.push_back({t.slot, t.tid, site, t.seq, ns, t.trace, args});
      ++t.seq;
      if (i % 700 == 0) enc.end_run();
    }
    std::vector<std::byte> payload;
    ASSERT_TRUE(enc.finish(1, payload));
    std::memcpy(&index_, payload.data(), sizeof index_);
    ASSERT_EQ(index_.codec, bbx::kCodecBits);
    const std::size_t head = sizeof index_ + index_.tid_count * 4u;
    bbx::ChunkDecoder unpacker;
    ASSERT_EQ(unpacker.unpack(index_, {reinterpret_cast<const std::uint8_t*>(payload.data()) + head,
                                       payload.size() - head}),
              "");
    body_.assign(unpacker.body().begin(), unpacker.body().end());
  }

  std::vector<std::vector<ArgType>> types_;
  std::vector<Logged> logged_;
  bbx::ChunkIndex index_{};
  std::vector<std::uint8_t> body_;
};

TEST_F(RandomChunk, EveryRecordComesBackByteForByte) {
  std::size_t k = 0;
  const std::string error = bbx::decode_body(
      bbx::kCodecBits, body_,
      [&](std::uint32_t id) { return id < types_.size() ? &types_[id] : nullptr; },
      [&](const bbx::DecodedRecord& r) {
        ASSERT_LT(k, logged_.size());
        const Logged& want = logged_[k];
        EXPECT_EQ(r.slot, want.slot) << k;
        EXPECT_EQ(r.tid, want.tid) << k;
        EXPECT_EQ(r.seq, want.seq) << k;
        EXPECT_EQ(r.site, want.site) << k;
        EXPECT_EQ(r.thread_name, "worker");
        ASSERT_EQ(r.trace != nullptr, !want.trace.empty()) << k;
        if (r.trace != nullptr) {
          EXPECT_EQ(std::memcmp(r.trace, want.trace.data(), 24), 0) << k;
        }
        ASSERT_EQ(r.args.size(), want.args.size()) << k;
        EXPECT_TRUE(same_bytes(r.args.data(), want.args.data(), want.args.size())) << k;
        EXPECT_EQ(r.time_ns, want.ns) << k;
        ++k;
      });
  EXPECT_EQ(error, "");
  EXPECT_EQ(k, logged_.size());
  EXPECT_EQ(index_.record_count, logged_.size());
}

// A reader that does not want some sites never reads their streams: the records of the
// others still come back exactly (each site's stream stands alone), even when the unwanted
// sites' streams are garbage.
TEST_F(RandomChunk, UnwantedSitesAreNeverReadAndTheRestDecodeExactly) {
  // Overwrite site 5's stream (strings and doubles) with noise.
  bbx::BodyHeader2 head;
  std::memcpy(&head, body_.data(), sizeof head);
  std::size_t table = sizeof head + head.control_bytes + head.time_bytes;
  std::size_t at = table + head.site_count * sizeof(bbx::SiteStream);
  bool found = false;
  for (std::uint32_t i = 0; i < head.site_count; ++i) {
    bbx::SiteStream s;
    std::memcpy(&s, body_.data() + table + i * sizeof s, sizeof s);
    if (s.site == 5) {
      for (std::uint32_t b = 0; b < s.bytes; ++b)
        body_[at + b] ^= static_cast<std::uint8_t>(0x5A + b);
      found = true;
    }
    at += s.bytes;
  }
  ASSERT_TRUE(found);
  bbx::ChunkDecoder decoder;
  std::vector<const Logged*> want;
  for (const Logged& l : logged_) {
    if (l.site != 5) want.push_back(&l);
  }
  std::size_t k = 0;
  const std::string error = decoder.decode(
      bbx::kCodecBits, body_,
      [&](std::uint32_t id) {
        return bbx::SiteLookup{id < types_.size() ? &types_[id] : nullptr, nullptr, id != 5};
      },
      bbx::RecordFilter{},
      [&](const bbx::DecodedRecord& r) {
        ASSERT_LT(k, want.size());
        EXPECT_EQ(r.site, want[k]->site) << k;
        EXPECT_EQ(r.seq, want[k]->seq) << k;
        ASSERT_EQ(r.args.size(), want[k]->args.size()) << k;
        EXPECT_TRUE(same_bytes(r.args.data(), want[k]->args.data(), r.args.size())) << k;
        ++k;
      });
  EXPECT_EQ(error, "");
  EXPECT_EQ(k, want.size());
  // Wanting site 5 too reads the noise, and says so.
  const std::string damaged = bbx::decode_body(
      bbx::kCodecBits, body_,
      [&](std::uint32_t id) { return id < types_.size() ? &types_[id] : nullptr; },
      [](const bbx::DecodedRecord&) {});
  EXPECT_NE(damaged, "");
}

// Records that fail the time and thread conditions are not delivered, and the values they
// carried still predict the next ones (the records after them decode exactly).
TEST_F(RandomChunk, FilteredRecordsKeepTheRestExact) {
  std::vector<std::int64_t> times;
  ASSERT_EQ(bbx::decode_body(
                bbx::kCodecBits, body_,
                [&](std::uint32_t id) { return id < types_.size() ? &types_[id] : nullptr; },
                [&](const bbx::DecodedRecord& r) { times.push_back(r.time_ns); }),
            "");
  ASSERT_EQ(times.size(), logged_.size());
  std::vector<std::int64_t> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  bbx::RecordFilter filter;
  filter.since_ns = sorted[sorted.size() / 3];
  filter.until_ns = sorted[2 * sorted.size() / 3];
  const std::uint32_t tids[] = {200, 300};
  filter.tids = tids;
  std::vector<std::size_t> want;
  for (std::size_t i = 0; i < logged_.size(); ++i) {
    if (times[i] >= filter.since_ns && times[i] < filter.until_ns && logged_[i].tid != 100) {
      want.push_back(i);
    }
  }
  ASSERT_GT(want.size(), 100u);
  bbx::ChunkDecoder decoder;
  std::size_t k = 0;
  const std::string error = decoder.decode(
      bbx::kCodecBits, body_,
      [&](std::uint32_t id) {
        return bbx::SiteLookup{id < types_.size() ? &types_[id] : nullptr, nullptr, true};
      },
      filter,
      [&](const bbx::DecodedRecord& r) {
        ASSERT_LT(k, want.size());
        const Logged& w = logged_[want[k]];
        EXPECT_EQ(r.seq, w.seq) << k;
        ASSERT_EQ(r.args.size(), w.args.size()) << k;
        EXPECT_TRUE(same_bytes(r.args.data(), w.args.data(), r.args.size())) << k;
        ++k;
      });
  EXPECT_EQ(error, "");
  EXPECT_EQ(k, want.size());
}

// Every truncation and every single bit flip of a body is an error or a clean decode,
// never a crash or a read outside the body (the sanitizer builds check the latter).
TEST_F(RandomChunk, CutAndFlippedBodiesNeverCrash) {
  const auto types = [&](std::uint32_t id) { return id < types_.size() ? &types_[id] : nullptr; };
  std::size_t errors = 0;
  for (std::size_t cut = 0; cut < body_.size(); cut += 1 + body_.size() / 300) {
    const std::string e = bbx::decode_body(bbx::kCodecBits, {body_.data(), cut}, types,
                                           [](const bbx::DecodedRecord&) {});
    errors += e.empty() ? 0 : 1;
  }
  EXPECT_GT(errors, 250u);
  std::mt19937_64 rng(9);
  for (int i = 0; i < 300; ++i) {
    std::vector<std::uint8_t> flipped = body_;
    const std::size_t at = rng() % flipped.size();
    flipped[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    (void)bbx::decode_body(bbx::kCodecBits, flipped, types, [](const bbx::DecodedRecord&) {});
  }
}

}  // namespace
