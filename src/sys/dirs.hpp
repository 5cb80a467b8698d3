// Directories blackbox writes into (ring, archive, crash): another local user is an attacker,
// so a directory we write must be ours and writable by no one else. Otherwise files could
// be planted, replaced or deleted under us (a ring another user placed would be "recovered"
// into our archive; a dump could be redirected through a link).
#pragma once

#include <sys/types.h>

#include <string>

namespace blackbox::sys {

// Creates `path` if missing (with `mode`; with `parents`, its missing parents too, as
// mkdir -p), then opens it (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC) and checks that it is owned by
// the effective uid and not writable by group or others. Returns the open directory
// descriptor (the caller closes it; files are then created relative to it, so a rename of
// the path cannot redirect them), or -1 with `error` set, naming the directory and the
// reason ("cannot create directory D: ...", "refusing directory D: owned by another user
// (uid U, we are V)"). Thread-safe.
[[nodiscard]] int open_private_dir(const std::string& path, mode_t mode, bool parents,
                                   std::string& error);

// The same, for a directory that must already exist.
[[nodiscard]] int open_existing_private_dir(const std::string& path, std::string& error);

// Why `path` cannot be a private directory of the effective uid ("" if it can: it is one,
// or it does not exist yet and we may create it): another user's directory, a link, a file,
// or writable by others. Never follows a link.
[[nodiscard]] std::string foreign_dir(const std::string& path);

// Opens an existing file that a reader names (a ring or archive file, found by listing a
// directory another user may write): never through a link (O_NOFOLLOW), never waiting
// (O_NONBLOCK: a FIFO planted where a file is expected must not hang the reader), and only a
// regular file. O_RDONLY, or O_RDWR with `write`. Returns the descriptor (O_CLOEXEC), or -1
// with `error` set to the reason ("not a regular file", errno's text; without the path).
[[nodiscard]] int open_regular(const std::string& path, bool write, std::string& error);

}  // namespace blackbox::sys
