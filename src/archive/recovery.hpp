// Recovery of the rings that dead processes left behind: the public API is in
// blackbox/recovery.hpp; this is the part the flusher and tests use.
//
// Per slot, what the dead process had archived is in SlotHeader::archived_pos; a Flusher on
// the dead ring, resumed from there, writes the rest (and the crash report as a crash
// frame) into a file named and headed as the dead process's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/archive_files.hpp"
#include "blackbox/recovery.hpp"

namespace blackbox::archive {

using Recovered = RecoveredRing;

// Recovers one ring file into `files.dir` (files.app and files.pid are taken from the ring).
[[nodiscard]] Recovered recover_ring(const std::string& ring_path, FileSettings files,
                                     int zstd_level);

// Recovers every dead ring file in `ring_dir` (`app`: only that app's, as sanitised for file
// names; empty: every app's). Files that are not ring files are left alone and reported.
[[nodiscard]] std::vector<Recovered> recover_dead_rings(const std::string& ring_dir,
                                                        const std::string& app,
                                                        const FileSettings& files, int zstd_level);

}  // namespace blackbox::archive
