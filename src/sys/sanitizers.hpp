#pragma once
// Which sanitizer this unit is built with, for the few places whose subject a sanitizer's
// runtime takes over (g++ says __SANITIZE_*__, clang __has_feature). Defined only when on:
// BLACKBOX_TSAN (ThreadSanitizer), BLACKBOX_ASAN (AddressSanitizer).

#if defined(__SANITIZE_THREAD__)
#define BLACKBOX_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BLACKBOX_ASAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(BLACKBOX_TSAN)
#define BLACKBOX_TSAN 1
#endif
#if __has_feature(address_sanitizer) && !defined(BLACKBOX_ASAN)
#define BLACKBOX_ASAN 1
#endif
#endif
