// The library's version, for code that must know which blackbox it is built against.
// BLACKBOX_VERSION is major * 10000 + minor * 100 + patch (0.1.0 is 100), as FMT_VERSION;
// CMake reads the version from this file, so the two cannot disagree.
#pragma once

#define BLACKBOX_VERSION_MAJOR 0
#define BLACKBOX_VERSION_MINOR 1
#define BLACKBOX_VERSION_PATCH 0
#define BLACKBOX_VERSION \
  (BLACKBOX_VERSION_MAJOR * 10000 + BLACKBOX_VERSION_MINOR * 100 + BLACKBOX_VERSION_PATCH)

#define BLACKBOX_STRINGIFY_(x) #x
#define BLACKBOX_STRINGIFY(x) BLACKBOX_STRINGIFY_(x)
// "0.1.0": what archives record as the writing library's version.
#define BLACKBOX_VERSION_STRING              \
  BLACKBOX_STRINGIFY(BLACKBOX_VERSION_MAJOR) \
  "." BLACKBOX_STRINGIFY(BLACKBOX_VERSION_MINOR) "." BLACKBOX_STRINGIFY(BLACKBOX_VERSION_PATCH)
