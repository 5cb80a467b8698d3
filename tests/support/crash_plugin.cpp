// A shared library the crash helper loads with dlopen() after blackbox's init(), then
// crashes in: its frames are symbolised only if the crash handler's module map was read
// again after the library was loaded.
#include <cstdint>

extern "C" [[gnu::noinline]] [[gnu::visibility("default")]] void bbx_plugin_crash() {
  volatile std::uintptr_t address = 0;  // a null pointer the compiler cannot see
  const std::uintptr_t target = address;
  asm volatile("movl $1, (%0)" : : "r"(target) : "memory");
}
