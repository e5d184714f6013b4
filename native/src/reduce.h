// Column sums of a row-major [rows, width] float32 matrix (Sum/Mean over the leading axes).
#pragma once
#include <cstdint>

/**
 * out[j] = x[0][j] + x[1][j] + … in that order, in float32, like the wasm kernels (so results are
 * bit-identical); divided by rows when `mean`. Vectorising across j keeps each column's order.
 */
void sumRows(const float* x, int64_t rows, int64_t width, float* out, bool mean);
