// A translation unit with its own default tag.
#define BBX_TAG "net"
#include "blackbox/blackbox.hpp"

void log_from_net_translation_unit(int value) { BBX_WARN("net tag {}", value); }
