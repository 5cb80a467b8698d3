// The module map (modules.hpp): captured outside signal handlers, read inside them.
//
// Memory ordering:
//  - g_published: release store after a table is filled, acquire load in modules_for(): the
//    handler sees the entries of the table it reads complete as of its publication.
//  - g_fills: the number of fills started. capture_modules() increments it (relaxed) and
//    then issues a release fence before writing into a table; modules_for() loads it with
//    acquire before reading, copies what it needs, issues an acquire fence and loads it
//    again. Fill k writes table k % 2; the table a reader found published was filled by
//    fill f1 or earlier, so only fill f1 + 2 or later can write into it: if the second load
//    is f1 + 2 or more, the copy may be torn and is taken again (at most kTries times; the
//    flusher thread refreshes only after a dlopen). This is the seqlock reader protocol
//    with the fill count as the sequence, which the double buffer alone lacked: two refreshes
//    during one handler refilled the table it was reading.
//  - Fills run on one thread at a time (install() under the logger's lock, then the flusher
//    thread): g_adds, g_subs and g_filling need no ordering of their own.
#include "crash/modules.hpp"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>

#include "sys/fork_guard.hpp"

namespace blackbox::crash {
namespace {

constexpr std::size_t kMaxModules = 512;

// Two tables: the handler reads the published one while a refresh fills the other.
struct ModuleTable {
  ring::CrashModule modules[kMaxModules];
  std::size_t count = 0;
};
ModuleTable g_tables[2];
// The table the handler reads. Release when a refresh publishes one, acquire in the
// handler: the table's entries before its index.
std::atomic<int> g_published{0};
// Fills started (see the memory-ordering note above).
std::atomic<std::uint64_t> g_fills{0};
// Tests only: runs once inside modules_for(), between the copy and its check.
void (*g_between_copy_and_check)() = nullptr;
std::atomic<std::uint32_t> g_retries{0};  // copies taken again (tests read it)
constexpr int kTries = 4;
// The loader's counts of modules loaded and unloaded when the map was last read.
unsigned long long g_adds = 0, g_subs = 0;
ModuleTable* g_filling = nullptr;  // during capture only

// The NT_GNU_BUILD_ID note among a module's loaded PT_NOTE segments.
void read_build_id(const dl_phdr_info& info, ring::CrashModule& m) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(info.dlpi_addr + ph.p_vaddr);
    const unsigned char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof note);
      const std::size_t name_bytes = (note.n_namesz + 3) & ~std::size_t{3};
      const std::size_t desc_bytes = (note.n_descsz + 3) & ~std::size_t{3};
      const unsigned char* name = p + sizeof note;
      const unsigned char* desc = name + name_bytes;
      if (desc + desc_bytes > end) break;
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        m.build_id_bytes =
            static_cast<std::uint8_t>(std::min<std::size_t>(note.n_descsz, sizeof m.build_id));
        std::memcpy(m.build_id, desc, m.build_id_bytes);
        return;
      }
      p = desc + desc_bytes;
    }
  }
}

int add_module(dl_phdr_info* info, std::size_t size, void*) {
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    g_adds = info->dlpi_adds;
    g_subs = info->dlpi_subs;
  }
  ModuleTable& t = *g_filling;
  if (t.count == kMaxModules) return 1;
  ring::CrashModule m{};
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    lo = std::min<std::uint64_t>(lo, info->dlpi_addr + ph.p_vaddr);
    hi = std::max<std::uint64_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
  if (hi == 0) return 0;
  m.start = lo;
  m.end = hi;
  m.load_bias = info->dlpi_addr;
  read_build_id(*info, m);
  const char* name = info->dlpi_name;
  if (name == nullptr || name[0] == '\0') {  // the executable
    const ssize_t n = readlink("/proc/self/exe", m.path, sizeof m.path - 1);
    m.path[n > 0 ? n : 0] = '\0';
  } else {
    std::strncpy(m.path, name, sizeof m.path - 1);
  }
  t.modules[t.count++] = m;
  return 0;
}

// Only the loader's counters (from the first module): whether anything changed.
int read_counters(dl_phdr_info* info, std::size_t size, void* out) {
  sys::fork_safe_point("inside dl_iterate_phdr");  // a test stops here, the lock held
  auto* counts = static_cast<unsigned long long*>(out);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    counts[0] = info->dlpi_adds;
    counts[1] = info->dlpi_subs;
  }
  return 1;  // stop after the first
}

}  // namespace

void capture_modules() {
  const int next = 1 - g_published.load(std::memory_order_relaxed);
  g_fills.fetch_add(1, std::memory_order_relaxed);
  // Orders the count before the stores into the table (pairs with the reader's acquire
  // fence before its second load of g_fills).
  std::atomic_thread_fence(std::memory_order_release);
  g_filling = &g_tables[next];
  g_filling->count = 0;
  {
    // The loader's write lock, which fork() does not reset: a fork waits for the walk.
    const sys::ForkSafeSection section("dl_iterate_phdr");
    dl_iterate_phdr(add_module, nullptr);
  }
  g_published.store(next, std::memory_order_release);
}

void refresh_modules() {
  unsigned long long counts[2] = {g_adds, g_subs};
  {
    const sys::ForkSafeSection section("dl_iterate_phdr");
    dl_iterate_phdr(read_counters, counts);
  }
  if (counts[0] != g_adds || counts[1] != g_subs) capture_modules();
}

std::uint32_t modules_for(const std::uint64_t* frames, std::uint32_t frame_count,
                          ring::CrashModule* out, std::uint32_t max) noexcept {
  std::uint32_t n = 0;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    // Acquire: pairs with the release fence in capture_modules() (see the note above).
    const std::uint64_t fills = g_fills.load(std::memory_order_acquire);
    const ModuleTable& table = g_tables[g_published.load(std::memory_order_acquire)];
    n = 0;
    std::size_t taken[ring::kCrashModules];
    const std::size_t count = std::min(table.count, kMaxModules);  // a torn count too
    for (std::uint32_t f = 0; f < frame_count && n < max && n < ring::kCrashModules; ++f) {
      for (std::size_t i = 0; i < count; ++i) {
        const ring::CrashModule& m = table.modules[i];
        if (frames[f] < m.start || frames[f] >= m.end) continue;
        if (std::find(taken, taken + n, i) == taken + n) {
          taken[n] = i;
          out[n++] = m;
        }
        break;
      }
    }
    if (void (*hook)() = g_between_copy_and_check; hook != nullptr) {
      g_between_copy_and_check = nullptr;
      hook();
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (g_fills.load(std::memory_order_relaxed) - fills < 2) return n;  // not refilled
    g_retries.fetch_add(1, std::memory_order_relaxed);
  }
  return n;  // refilled at every try: the last copy, best effort
}

void set_between_copy_and_check_for_testing(void (*hook)()) noexcept {
  g_between_copy_and_check = hook;
}

std::uint32_t module_copy_retries_for_testing() noexcept {
  return g_retries.load(std::memory_order_relaxed);
}

}  // namespace blackbox::crash
