// A second unit with its own call sites and a span: its semaphores (record, span_start,
// span_end) are emitted in another order than main.cpp's at some optimisation levels.
#include <blackbox/blackbox.hpp>

int charge(int order) {
  BBX_SPAN("charge {order}", order);
  BBX_WARN("card of order {} declined once", order);
  return order;
}
