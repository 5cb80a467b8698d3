// Audit records: what a control request from outside asked and what it changed, written
// whatever the levels and the rate limits say (`logcat ctl level blackbox=off` cannot hide
// the requests that follow it). Tag "blackbox", level warn, as the logger's other notes.
#pragma once

#include "blackbox/blackbox.hpp"

// BBX_INTERNAL_AUDIT(template, args...): one audit record, from any thread (the flusher's,
// in practice). The site is an audit site (StaticSite::audit): register_site() gives it no
// level threshold, and rate limits never apply to it.
#define BBX_INTERNAL_AUDIT(template_, ...)                                                    \
  do {                                                                                        \
    static constexpr ::blackbox::detail::StaticSite bbx_internal_static_site_{                \
        ::blackbox::Level::warn,                                                              \
        "blackbox",                                                                           \
        __FILE__,                                                                             \
        __LINE__,                                                                             \
        __func__,                                                                             \
        (template_),                                                                          \
        /*printf_format=*/false,                                                              \
        /*no_rate_limit=*/true,                                                               \
        /*audit=*/true};                                                                      \
    static constinit ::blackbox::detail::Site bbx_internal_site_{&bbx_internal_static_site_}; \
    if (const ::std::uint64_t bbx_internal_bits_ = ::blackbox::detail::site_bits(             \
            bbx_internal_site_, decltype(::blackbox::detail::type_list(__VA_ARGS__)){});      \
        bbx_internal_bits_ != 0) {                                                            \
      ::blackbox::detail::log_at(::blackbox::detail::now_ticks(), bbx_internal_bits_,         \
                                 bbx_internal_site_, template_, __VA_ARGS__);                 \
    }                                                                                         \
  } while (false)
