// Primitives are cached per (pass, geometry): creating one JIT-compiles kernels (milliseconds),
// running one on GANomaly shapes takes about as long. Activations stay NHWC (no reorders); the
// filter is reordered between TensorFlow's HWIO and whatever blocked layout oneDNN picks.
#include "conv.h"

#include <omp.h>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "oneapi/dnnl/dnnl.hpp"

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine& cpuEngine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& cpuStream() {
  static dnnl::stream s(cpuEngine());
  return s;
}

using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t>;

Key keyOf(ConvPass pass, const ConvGeometry& g) {
  return {static_cast<int>(pass), g.n, g.h, g.w, g.cin, g.oh, g.ow, g.cout, g.kh, g.kw, g.sh, g.sw, g.top, g.left};
}

struct Plan {
  dnnl::primitive prim;
  std::string impl;
  memory a, b, out;          // bound to caller buffers (or to `blocked` for the filter) per call
  memory userFilter;         // HWIO view of the caller's filter (input or output)
  memory blocked;            // the filter in oneDNN's layout, when that differs from HWIO
  bool reorderFilter = false;
  dnnl::reorder toBlocked, toUser;
};

std::map<Key, std::unique_ptr<Plan>> cache;
std::mutex cacheLock;
int threads = 1;

void validate(const ConvGeometry& g) {
  const int64_t dims[] = {g.n, g.h, g.w, g.cin, g.oh, g.ow, g.cout, g.kh, g.kw, g.sh, g.sw};
  for (int64_t d : dims) {
    if (d < 1) throw std::invalid_argument("conv geometry: every size and stride must be at least 1");
  }
  if (g.top < 0 || g.left < 0) throw std::invalid_argument("conv geometry: padding must be non-negative");
  if ((g.oh - 1) * g.sh + g.kh - g.h - g.top < 0 || (g.ow - 1) * g.sw + g.kw - g.w - g.left < 0) {
    throw std::invalid_argument("conv geometry: input rows after the last window (negative padding after) are not supported");
  }
}

std::unique_ptr<Plan> makePlan(ConvPass pass, const ConvGeometry& g) {
  validate(g);
  auto& eng = cpuEngine();
  const memory::dims xDims = {g.n, g.cin, g.h, g.w};
  const memory::dims yDims = {g.n, g.cout, g.oh, g.ow};
  const memory::dims wDims = {g.cout, g.cin, g.kh, g.kw};
  const memory::dims strides = {g.sh, g.sw};
  const memory::dims padL = {g.top, g.left};
  // Padding after such that the last window ends exactly at the last output row.
  const memory::dims padR = {(g.oh - 1) * g.sh + g.kh - g.h - g.top, (g.ow - 1) * g.sw + g.kw - g.w - g.left};
  const memory::desc xMd(xDims, dt::f32, tag::nhwc);
  const memory::desc yMd(yDims, dt::f32, tag::nhwc);
  const memory::desc wUser(wDims, dt::f32, tag::hwio);
  const memory::desc wAny(wDims, dt::f32, tag::any);
  const auto algo = dnnl::algorithm::convolution_direct;

  dnnl::convolution_forward::primitive_desc fwd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, xMd, wAny, yMd, strides, padL, padR), eng);
  auto plan = std::make_unique<Plan>();
  plan->userFilter = memory(wUser, eng, DNNL_MEMORY_NONE);
  memory::desc wMd;
  if (pass == ConvPass::Forward) {
    plan->prim = dnnl::convolution_forward(fwd);
    plan->impl = fwd.impl_info_str();
    wMd = fwd.weights_desc();
    plan->a = memory(xMd, eng, DNNL_MEMORY_NONE);
    plan->out = memory(yMd, eng, DNNL_MEMORY_NONE);
  } else if (pass == ConvPass::BackwardData) {
    dnnl::convolution_backward_data::primitive_desc bwd(
        dnnl::convolution_backward_data::desc(algo, xMd, wAny, yMd, strides, padL, padR), eng, fwd);
    plan->prim = dnnl::convolution_backward_data(bwd);
    plan->impl = bwd.impl_info_str();
    wMd = bwd.weights_desc();
    plan->a = memory(yMd, eng, DNNL_MEMORY_NONE);
    plan->out = memory(xMd, eng, DNNL_MEMORY_NONE);
  } else {
    dnnl::convolution_backward_weights::primitive_desc bwd(
        dnnl::convolution_backward_weights::desc(algo, xMd, wAny, yMd, strides, padL, padR), eng, fwd);
    plan->prim = dnnl::convolution_backward_weights(bwd);
    plan->impl = bwd.impl_info_str();
    wMd = bwd.diff_weights_desc();
    plan->a = memory(xMd, eng, DNNL_MEMORY_NONE);
    plan->b = memory(yMd, eng, DNNL_MEMORY_NONE);
  }
  plan->reorderFilter = wMd != wUser;
  plan->blocked = plan->reorderFilter ? memory(wMd, eng) : memory(wUser, eng, DNNL_MEMORY_NONE);
  if (plan->reorderFilter) {
    if (pass == ConvPass::BackwardWeights) plan->toUser = dnnl::reorder(plan->blocked, plan->userFilter);
    else plan->toBlocked = dnnl::reorder(plan->userFilter, plan->blocked);
  }
  return plan;
}

Plan& planFor(ConvPass pass, const ConvGeometry& g) {
  auto& slot = cache[keyOf(pass, g)];
  if (!slot) slot = makePlan(pass, g);
  return *slot;
}

}  // namespace

void convRun(ConvPass pass, const ConvGeometry& g, const float* a, const float* b, float* out) {
  std::lock_guard<std::mutex> hold(cacheLock);
  Plan& p = planFor(pass, g);
  auto& s = cpuStream();
  // oneDNN takes non-const handles; inputs are only read.
  void* ap = const_cast<float*>(a);
  void* bp = const_cast<float*>(b);
  if (pass == ConvPass::BackwardWeights) {
    p.a.set_data_handle(ap);
    p.b.set_data_handle(bp);
    if (!p.reorderFilter) p.blocked.set_data_handle(out);
    p.prim.execute(s, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_DIFF_DST, p.b}, {DNNL_ARG_DIFF_WEIGHTS, p.blocked}});
    if (p.reorderFilter) {
      p.userFilter.set_data_handle(out);
      p.toUser.execute(s, p.blocked, p.userFilter);
    }
  } else {
    p.a.set_data_handle(ap);
    p.out.set_data_handle(out);
    if (p.reorderFilter) {
      p.userFilter.set_data_handle(bp);
      p.toBlocked.execute(s, p.userFilter, p.blocked);
    } else {
      p.blocked.set_data_handle(bp);
    }
    if (pass == ConvPass::Forward) {
      p.prim.execute(s, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.blocked}, {DNNL_ARG_DST, p.out}});
    } else {
      p.prim.execute(s, {{DNNL_ARG_DIFF_DST, p.a}, {DNNL_ARG_WEIGHTS, p.blocked}, {DNNL_ARG_DIFF_SRC, p.out}});
    }
  }
  s.wait();
}

const char* convImpl(ConvPass pass, const ConvGeometry& g) {
  std::lock_guard<std::mutex> hold(cacheLock);
  return planFor(pass, g).impl.c_str();
}

void convSetThreads(int n) {
  std::lock_guard<std::mutex> hold(cacheLock);
  if (n < 1) n = 1;
  if (n != threads) cache.clear();  // JIT kernels bake in the thread count they were made for
  threads = n;
  omp_set_num_threads(n);
}

int convGetThreads() { return threads; }
