// Memory-bound loops: one OpenMP region each, rows split statically across threads, channels
// innermost (NHWC) so the inner loop is contiguous and vectorises. Per-channel sums are float64
// and per-thread, added up in thread order (results depend on the thread count at roundoff
// level only). target_clones picks AVX-512/AVX2 code at load time without building for the
// build machine's CPU (node_modules get copied between machines).
#include "fused.h"

#include <omp.h>

#include <cmath>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

namespace {

// Rows [begin, end) of thread t out of n.
inline void rowRange(int64_t rows, int t, int n, int64_t& begin, int64_t& end) {
  begin = rows * t / n;
  end = rows * (t + 1) / n;
}

VECTOR_CLONES void sumsOfRows(const float* x, int64_t r0, int64_t r1, int64_t c, double* s1, double* s2) {
  for (int64_t r = r0; r < r1; r++) {
    const float* row = x + r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; j++) {
      const double v = row[j];
      s1[j] += v;
      s2[j] += v * v;
    }
  }
}

VECTOR_CLONES void affineAct(const float* x, int64_t r0, int64_t r1, int64_t c, const float* scale, const float* shift,
                             float k, float* y) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; j++) {
      const float v = xr[j] * scale[j] + shift[j];
      yr[j] = v < 0.0f ? v * k : v;
    }
  }
}

VECTOR_CLONES void gradSums(const float* dy, const float* x, const float* y, int64_t r0, int64_t r1, int64_t c,
                            const float* mean, float slope, double* sg, double* sgx) {
  for (int64_t r = r0; r < r1; r++) {
    const int64_t o = r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; j++) {
      const float g = y[o + j] > 0.0f ? dy[o + j] : dy[o + j] * slope;
      sg[j] += g;
      sgx[j] += static_cast<double>(g) * (x[o + j] - mean[j]);
    }
  }
}

VECTOR_CLONES void gradApply(const float* dy, const float* x, const float* y, int64_t r0, int64_t r1, int64_t c,
                             const float* mean, float slope, const float* a, const float* b, const float* m, float* dx) {
  for (int64_t r = r0; r < r1; r++) {
    const int64_t o = r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; j++) {
      const float g = y[o + j] > 0.0f ? dy[o + j] : dy[o + j] * slope;
      dx[o + j] = a[j] * g - m[j] - b[j] * (x[o + j] - mean[j]);
    }
  }
}

VECTOR_CLONES void actGradRange(const float* dy, const float* y, int64_t i0, int64_t i1, float slope, float* dx) {
#pragma omp simd
  for (int64_t i = i0; i < i1; i++) dx[i] = y[i] > 0.0f ? dy[i] : dy[i] * slope;
}

VECTOR_CLONES void leakyRange(const float* x, int64_t i0, int64_t i1, float alpha, float* y) {
#pragma omp simd
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] < 0.0f ? x[i] * alpha : x[i];
}

// Bit for bit the unfused float32 chain (src/backend/fused/math.ts adamUpdate says why): each
// operation rounded to float, in the chain's order; binding.gyp's -ffp-contract=off keeps the
// compiler from fusing a multiply and an add into one FMA, which would round once instead of twice.
VECTOR_CLONES void adamRange(const float* p, const float* g, const float* m, const float* v, int64_t i0, int64_t i1,
                             AdamHyper h, float* pOut, float* mOut, float* vOut) {
  const float c1 = h.c1, c2 = h.c2;
#pragma omp simd
  for (int64_t i = i0; i < i1; i++) {
    const float gi = g[i];
    const float mi = m[i] * h.beta1 + gi * c1;
    const float vi = v[i] * h.beta2 + (gi * gi) * c2;
    mOut[i] = mi;
    vOut[i] = vi;
    const float update = ((mi / h.bc1) / (std::sqrt(vi / h.bc2) + h.eps)) * h.lr;
    pOut[i] = p[i] - update;
  }
}

// Below this many elements one thread is faster than waking the others.
constexpr int64_t kParallelMin = 1 << 15;

int threadsFor(int64_t n) { return n < kParallelMin ? 1 : omp_get_max_threads(); }

// Per-thread per-channel sums of two quantities, added up in thread order.
template <typename F>
void channelSums(int64_t rows, int64_t c, int nt, F&& body, std::vector<double>& s1, std::vector<double>& s2) {
  std::vector<double> part(static_cast<size_t>(2 * nt * c), 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t r0, r1;
    rowRange(rows, t, omp_get_num_threads(), r0, r1);
    body(r0, r1, part.data() + 2 * t * c, part.data() + (2 * t + 1) * c);
  }
  s1.assign(static_cast<size_t>(c), 0.0);
  s2.assign(static_cast<size_t>(c), 0.0);
  for (int t = 0; t < nt; t++) {
    for (int64_t j = 0; j < c; j++) {
      s1[j] += part[2 * t * c + j];
      s2[j] += part[(2 * t + 1) * c + j];
    }
  }
}

template <typename F>
void parallelRows(int64_t rows, int nt, F&& body) {
#pragma omp parallel num_threads(nt)
  {
    int64_t r0, r1;
    rowRange(rows, omp_get_thread_num(), omp_get_num_threads(), r0, r1);
    body(r0, r1);
  }
}

}  // namespace

void bnActForward(const float* x, int64_t rows, int64_t c, const float* gamma, const float* beta, double eps, float slope,
                  float* y, float* mean, float* var) {
  const int nt = threadsFor(rows * c);
  std::vector<double> s1, s2;
  channelSums(rows, c, nt, [&](int64_t r0, int64_t r1, double* a, double* b) { sumsOfRows(x, r0, r1, c, a, b); }, s1, s2);
  std::vector<float> scale(c), shift(c);
  for (int64_t j = 0; j < c; j++) {
    const double mu = s1[j] / rows;
    const double v = s2[j] / rows - mu * mu;
    mean[j] = static_cast<float>(mu);
    var[j] = static_cast<float>(v > 0 ? v : 0);
    const double inv = 1.0 / std::sqrt(static_cast<double>(var[j]) + eps);
    scale[j] = static_cast<float>(gamma[j] * inv);
    shift[j] = static_cast<float>(beta[j] - static_cast<double>(mean[j]) * gamma[j] * inv);
  }
  parallelRows(rows, nt, [&](int64_t r0, int64_t r1) { affineAct(x, r0, r1, c, scale.data(), shift.data(), slope, y); });
}

void bnActBackward(const float* dy, const float* x, const float* y, int64_t rows, int64_t c, const float* gamma,
                   const float* mean, const float* var, double eps, float slope, float* dx, float* dGamma, float* dBeta) {
  const int nt = threadsFor(rows * c);
  std::vector<double> sg, sgx;
  channelSums(rows, c, nt, [&](int64_t r0, int64_t r1, double* a, double* b) { gradSums(dy, x, y, r0, r1, c, mean, slope, a, b); },
              sg, sgx);
  std::vector<float> a(c), b(c), m(c);
  for (int64_t j = 0; j < c; j++) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(var[j]) + eps);
    dBeta[j] = static_cast<float>(sg[j]);
    dGamma[j] = static_cast<float>(sgx[j] * inv);
    const double aj = gamma[j] * inv;
    a[j] = static_cast<float>(aj);
    b[j] = static_cast<float>(aj * inv * inv * sgx[j] / rows);
    m[j] = static_cast<float>(aj * sg[j] / rows);
  }
  parallelRows(rows, nt, [&](int64_t r0, int64_t r1) { gradApply(dy, x, y, r0, r1, c, mean, slope, a.data(), b.data(), m.data(), dx); });
}

void activationBackward(const float* dy, const float* y, int64_t n, float slope, float* dx) {
  parallelRows(n, threadsFor(n), [&](int64_t i0, int64_t i1) { actGradRange(dy, y, i0, i1, slope, dx); });
}

void leakyRelu(const float* x, int64_t n, float alpha, float* y) {
  parallelRows(n, threadsFor(n), [&](int64_t i0, int64_t i1) { leakyRange(x, i0, i1, alpha, y); });
}

void adamUpdate(const float* p, const float* g, const float* m, const float* v, int64_t n, const AdamHyper& h,
                float* pOut, float* mOut, float* vOut) {
  parallelRows(n, threadsFor(n), [&](int64_t i0, int64_t i1) { adamRange(p, g, m, v, i0, i1, h, pOut, mOut, vOut); });
}
