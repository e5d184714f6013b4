// NHWC float32 convolutions on oneDNN: forward, backward-data and backward-weights, with the
// filter in TensorFlow's layout [kh, kw, Cin, Cout]. Buffers belong to the caller.
#pragma once
#include <cstdint>

struct ConvGeometry {
  int64_t n, h, w, cin;     // input x (or dx)
  int64_t oh, ow, cout;     // output y (or dy)
  int64_t kh, kw;
  int64_t sh, sw;
  int64_t top, left;        // padding before; padding after follows from the sizes
};

enum class ConvPass { Forward, BackwardData, BackwardWeights };

/** Throws std::exception on an invalid geometry or a oneDNN failure. */
void convRun(ConvPass pass, const ConvGeometry& g, const float* a, const float* b, float* out);

/** oneDNN implementation chosen for a pass (e.g. "brg:avx512_core"), for diagnostics. */
const char* convImpl(ConvPass pass, const ConvGeometry& g);

void convSetThreads(int n);
int convGetThreads();
