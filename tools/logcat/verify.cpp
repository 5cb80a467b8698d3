#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "commands.hpp"

namespace logcat {
namespace {

// Returns 0 intact, 1 damaged, 2 unreadable.
int verify_ring(const std::string& path) {
  std::string error;
  auto ring = blackbox::RingReader::open(path, &error);
  if (!ring) {
    std::printf("UNREADABLE %s: %s\n", path.c_str(), error.c_str());
    return 2;
  }
  const std::size_t records = ring->poll([](const blackbox::Record&) {});
  std::uint64_t corrupt = 0, lost = 0;
  for (const auto& loss : ring->losses()) {
    corrupt += loss.corrupt_bytes;
    lost += loss.records;
  }
  std::printf("%-8s %s: ring, %zu records, %llu overwritten or damaged\n",
              corrupt == 0 ? "ok" : "DAMAGED", path.c_str(), records,
              static_cast<unsigned long long>(lost));
  if (corrupt != 0) {
    std::printf("  %llu bytes failed validation\n", static_cast<unsigned long long>(corrupt));
  }
  return corrupt == 0 ? 0 : 1;
}

int verify_archive(const std::string& path) {
  std::string error;
  auto archive = blackbox::ArchiveReader::open(path, &error);
  if (!archive) {
    std::printf("UNREADABLE %s\n", error.c_str());
    return 2;
  }
  const std::size_t records = archive->poll([](const blackbox::Record&) {});
  const auto& damage = archive->damage();
  const auto counters = archive->counters();
  std::printf("%-8s %s: %llu chunks, %zu records, %llu lost records noted by the writer%s\n",
              damage.empty() ? "ok" : "DAMAGED", path.c_str(),
              static_cast<unsigned long long>(counters.chunks_read), records,
              static_cast<unsigned long long>(archive->lost_records()),
              counters.unknown_frames != 0 ? ", frames of unknown types skipped" : "");
  for (const auto& d : damage) {
    std::printf("  offset %llu, %llu bytes: %s\n", static_cast<unsigned long long>(d.offset),
                static_cast<unsigned long long>(d.length), d.reason.c_str());
  }
  return damage.empty() ? 0 : 1;
}

}  // namespace

int run_verify(const std::vector<std::string>& paths) {
  int status = 0;
  for (const auto& path : paths) {
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
        if (e.path().extension() == ".bbx") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) std::printf("ok       %s: no archive files\n", path.c_str());
    } else {
      files.push_back(path);
    }
    for (const auto& file : files) {
      status = std::max(status, is_ring_file(file) ? verify_ring(file) : verify_archive(file));
    }
  }
  std::fflush(stdout);
  return status;
}

}  // namespace logcat
