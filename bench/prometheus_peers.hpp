// prometheus-cpp's metrics (Debian's prometheus-cpp-dev), the peer of blackbox's application
// metrics in metrics_bench and instr_count: a counter and a histogram with a label, a gauge,
// in a registry of their own. The histogram has 20 exponential buckets, x2 from 1,000 (ns).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <vector>

namespace bench {

inline prometheus::Registry& prometheus_registry() {
  static auto* registry = new prometheus::Registry;
  return *registry;
}

inline prometheus::Counter& prometheus_counter() {
  static prometheus::Counter& c = prometheus::BuildCounter()
                                      .Name("requests_total")
                                      .Help("requests")
                                      .Register(prometheus_registry())
                                      .Add({{"route", "/login"}});
  return c;
}

inline prometheus::Gauge& prometheus_gauge() {
  static prometheus::Gauge& g = prometheus::BuildGauge()
                                    .Name("queue_depth")
                                    .Help("depth")
                                    .Register(prometheus_registry())
                                    .Add({});
  return g;
}

inline prometheus::Histogram& prometheus_histogram() {
  static prometheus::Histogram& h = [] {
    prometheus::Histogram::BucketBoundaries bounds;
    for (int i = 0; i < 20; ++i) bounds.push_back(1000.0 * static_cast<double>(1u << i));
    return std::ref(prometheus::BuildHistogram()
                        .Name("latency_ns")
                        .Help("latency")
                        .Register(prometheus_registry())
                        .Add({{"route", "/login"}}, bounds));
  }();
  return h;
}

}  // namespace bench
