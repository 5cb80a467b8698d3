// Retention holds: a reader that must see every record before its archive file is deleted
// (a shipper: `logcat ship`) says how far it has got, and retention keeps the files it has
// not finished.
//
// A hold is a small file `.hold.<holder>` in the archive directory, replaced atomically by
// its holder: "every record logged before `through_ns` (wall clock) has been read". The
// flusher's retention (Config::retain_bytes, retain_seconds) then deletes only files last
// written more than a second before the oldest hold of the directory, and keeps the rest
// while all the app's files together stay within Config::retain_unshipped_bytes, the
// ceiling. Beyond it the oldest files go anyway, held or not: those deleted unshipped are
// counted (Stats::archive_files_deleted_unshipped, _bytes_; `logcat stats`, `logcat top`).
// A holder that is gone for good leaves its hold behind: remove_retention_hold() (or `rm`)
// lets retention go on.
//
// Holds are only read from files owned by this user (or root) in a directory only this
// user can write (the archive directory's rule); anything else there is ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace blackbox {

struct RetentionHold {
  std::string holder;
  std::int64_t through_ns = 0;  // every record logged before this (wall clock) was read
};

// Creates or replaces `holder`'s hold in `archive_dir` (which must exist). `holder`:
// [A-Za-z0-9_.-], 1 to 64 bytes. Returns "" or what went wrong.
[[nodiscard]] std::string set_retention_hold(const std::string& archive_dir,
                                             std::string_view holder, std::int64_t through_ns);
// Removes it (no hold: nothing to do). Returns "" or what went wrong.
[[nodiscard]] std::string remove_retention_hold(const std::string& archive_dir,
                                                std::string_view holder);
// The holds of `archive_dir`, by holder name (unreadable or malformed ones left out).
[[nodiscard]] std::vector<RetentionHold> retention_holds(const std::string& archive_dir);

}  // namespace blackbox
