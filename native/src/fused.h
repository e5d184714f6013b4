// The fused training kernels (src/train/fused/math.ts) in C++ on all OpenMP threads, for the
// wasm backend when the addon is built. Same formulas; float64 per-channel sums.
#pragma once
#include <cstdint>

void bnActForward(const float* x, int64_t rows, int64_t c, const float* gamma, const float* beta, double eps, float slope,
                  float* y, float* mean, float* var);
void bnActBackward(const float* dy, const float* x, const float* y, int64_t rows, int64_t c, const float* gamma,
                   const float* mean, const float* var, double eps, float slope, float* dx, float* dGamma, float* dBeta);
void activationBackward(const float* dy, const float* y, int64_t n, float slope, float* dx);
void leakyRelu(const float* x, int64_t n, float alpha, float* y);
// The constants in float32 as torch.optim.Adam uses them: 1 − β is taken in float64 first
// (1.0f − 0.999f would be off by 5e-5 relative).
struct AdamHyper {
  float lr, beta1, beta2, c1, c2, eps, bc1, bc2;
};
void adamUpdate(const float* p, const float* g, const float* m, const float* v, int64_t n, const AdamHyper& h,
                float* pOut, float* mOut, float* vOut);
