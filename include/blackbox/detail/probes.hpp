// USDT probes (provider "blackbox"), for dynamic tracing of a live process with bpftrace,
// perf or SystemTap, without restarting it (docs/tracing.md). Built from Debian's
// systemtap-sdt-dev (<sys/sdt.h>) where it is found on an ELF platform; compiled out
// otherwise, or with BBX_NO_USDT defined.
//
// A probe is a nop in the code and an ELF note (.note.stapsdt) that says where it is and
// where its arguments are. Each has a semaphore: a counter tracers raise while attached
// (bpftrace -p PID, through the kernel's uprobe reference counter), so the code checks it
// and does the work of a probe's arguments only while someone listens. Unattached, a probe
// costs one compare and branch on that counter.
//
// Semaphores are hidden, one copy per binary (executable or shared object): the note of a
// probe records its semaphore's address in the binary that holds the probe, and the code of
// that binary must read that same copy.
#pragma once

#if defined(__ELF__) && !defined(BBX_NO_USDT) && __has_include(<sys/sdt.h>)
#define BBX_HAVE_USDT 1
#ifndef _SDT_HAS_SEMAPHORES
#define _SDT_HAS_SEMAPHORES 1
#endif
#ifndef SDT_USE_VARIADIC
#define SDT_USE_VARIADIC 1  // STAP_PROBEV: a probe with any number of arguments
#endif
#include <sys/sdt.h>

// The semaphores, named as <sys/sdt.h> expects: provider_name_semaphore. Each is defined by
// assembly, in a COMDAT group of its own named after it, so every translation unit of every
// binary emits exactly the same five groups and the linker keeps one copy of each. (As C++
// inline variables with section(".probes"), g++ puts all of a unit's semaphores into one
// group named after the first it emits, which depends on the optimisation level: a program
// built at -O0 and a library built at -O2 then define the same symbols in groups of
// different names, "multiple definition of blackbox_crash_semaphore".) Weak and hidden: one
// copy per binary, as the note of each probe expects. %progbits and STT_OBJECT are spelled
// so that both GNU as and clang's assembler take them on every ELF target.
// (One line of assembly a line: not reflowed.)
// clang-format off
#define BBX_INTERNAL_SEMAPHORE(name)                                                      \
  __asm__(".pushsection .probes,\"awG\",%progbits,blackbox_" #name "_semaphore,comdat\n" \
          "\t.weak blackbox_" #name "_semaphore\n"                                        \
          "\t.hidden blackbox_" #name "_semaphore\n"                                      \
          "\t.type blackbox_" #name "_semaphore, STT_OBJECT\n"                            \
          "\t.size blackbox_" #name "_semaphore, 2\n"                                     \
          "\t.balign 2\n"                                                                 \
          "blackbox_" #name "_semaphore:\n"                                                \
          "\t.zero 2\n"                                                                   \
          "\t.popsection\n");                                                             \
  extern __attribute__((visibility("hidden"))) volatile unsigned short                   \
      blackbox_##name##_semaphore;
// clang-format on
extern "C" {
BBX_INTERNAL_SEMAPHORE(record)
BBX_INTERNAL_SEMAPHORE(span_start)
BBX_INTERNAL_SEMAPHORE(span_end)
BBX_INTERNAL_SEMAPHORE(loss)
BBX_INTERNAL_SEMAPHORE(crash)
}
#undef BBX_INTERNAL_SEMAPHORE

// Whether a tracer listens to probe `name`: one load, one compare.
#define BBX_PROBE_ENABLED(name) __builtin_expect(blackbox_##name##_semaphore != 0, 0)
// Fires probe `name` with its arguments (each 64 bits wide: see docs/tracing.md).
#define BBX_PROBE(name, ...) STAP_PROBEV(blackbox, name, __VA_ARGS__)
#else
#define BBX_HAVE_USDT 0
#define BBX_PROBE_ENABLED(name) false
#define BBX_PROBE(name, ...) ::blackbox::detail::no_probe(__VA_ARGS__)
#endif

// The `record` probe fires at the program's call sites only, not at the library's own (its
// audit records and the like, built with BBX_INTERNAL_NO_RECORD_PROBE): with a shared
// libblackbox, `record` probes in two binaries of one process make bpftrace 0.17 (through
// bcc, which takes a probe's name as unique in a process) attach to neither ("Could not
// resolve symbol"). The library's own records are in the ring and the archive as ever.
#if BBX_HAVE_USDT && !defined(BBX_INTERNAL_NO_RECORD_PROBE)
#define BBX_RECORD_PROBE_ENABLED() BBX_PROBE_ENABLED(record)
#define BBX_RECORD_PROBE(...) BBX_PROBE(record, __VA_ARGS__)
#else
#define BBX_RECORD_PROBE_ENABLED() false
#define BBX_RECORD_PROBE(...) ::blackbox::detail::no_probe(__VA_ARGS__)
#endif

namespace blackbox::detail {

// Without probes: the arguments are used, so that computing them draws no warning.
template <typename... Args>
inline void no_probe(const Args&...) noexcept {}

// The library's copy of a probe's semaphore ("record", "span_start", "span_end", "loss",
// "crash"): how many of the library's probe locations of that name a tracer has attached
// (0 without USDT, or for another name). In a program linked with a static libblackbox, the
// program's copy too. For tests and tools that wait for a tracer.
[[nodiscard]] unsigned probe_semaphore(const char* name) noexcept;

}  // namespace blackbox::detail
