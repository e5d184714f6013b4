#include "reduce.h"

void sumRows(const float* x, int64_t rows, int64_t width, float* out, bool mean) {
  for (int64_t j = 0; j < width; j++) out[j] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x + r * width;
    for (int64_t j = 0; j < width; j++) out[j] += row[j];
  }
  if (mean) {
    const float n = static_cast<float>(rows);
    for (int64_t j = 0; j < width; j++) out[j] /= n;
  }
}
