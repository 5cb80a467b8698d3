// Reading a ring file that no writer holds (a dead process's ring, a dump) into private
// memory, with pread(2) rather than a shared mapping: a file that is truncated meanwhile (by
// its owner, or by anyone who may write it) then gives a short read and a clear error, where
// a mapping would have killed the reader with SIGBUS. Only what holds data is read: the
// header page, the site table, the slot headers, and the rings of slots that were written.
#pragma once

#include <cstddef>
#include <string>

#include "format/ring_layout.hpp"

namespace blackbox::ring {

struct RingImage {
  std::byte* base = nullptr;  // file_size bytes of private anonymous memory (munmap it)
  std::size_t size = 0;
  Layout layout{};
};

// Reads the ring file open at `fd` (`file_size` bytes, from fstat). False with `error` set
// (without the path) if it is not a valid ring file or could not be read whole.
[[nodiscard]] bool read_ring_image(int fd, std::size_t file_size, RingImage& out,
                                   std::string& error);

// Frees what read_ring_image() returned.
void free_ring_image(RingImage& image) noexcept;

}  // namespace blackbox::ring
