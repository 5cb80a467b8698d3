// The fork guard (fork_guard.hpp).
//
// A plain pthread mutex: the background thread holds it around one C library call; fork()'s
// prepare handler takes it, so the fork happens between calls; parent and child release it
// (the child's copy is held by its only thread, the one that forked, so unlocking is valid).
// The hooks are relaxed atomics: set by a test long before the calls they stop.
#include "sys/fork_guard.hpp"

#include <pthread.h>

#include <atomic>

namespace blackbox::sys {
namespace {

pthread_mutex_t g_guard = PTHREAD_MUTEX_INITIALIZER;
std::atomic<void (*)(const char*)> g_section_hook{nullptr};
std::atomic<void (*)()> g_prepare_hook{nullptr};

}  // namespace

ForkSafeSection::ForkSafeSection(const char* call) noexcept {
  pthread_mutex_lock(&g_guard);
  fork_safe_point(call);
}

ForkSafeSection::~ForkSafeSection() { pthread_mutex_unlock(&g_guard); }

void fork_safe_point(const char* call) noexcept {
  if (auto* hook = g_section_hook.load(std::memory_order_relaxed); hook != nullptr) hook(call);
}

void fork_guard_prepare() noexcept {
  if (auto* hook = g_prepare_hook.load(std::memory_order_relaxed); hook != nullptr) hook();
  pthread_mutex_lock(&g_guard);
}

void fork_guard_parent() noexcept { pthread_mutex_unlock(&g_guard); }

void fork_guard_child() noexcept { pthread_mutex_unlock(&g_guard); }

namespace testing {
void set_fork_section_hook(void (*hook)(const char*)) noexcept {
  g_section_hook.store(hook, std::memory_order_relaxed);
}
void set_fork_prepare_hook(void (*hook)()) noexcept {
  g_prepare_hook.store(hook, std::memory_order_relaxed);
}
}  // namespace testing

}  // namespace blackbox::sys
