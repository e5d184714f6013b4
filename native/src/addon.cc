// N-API surface of the oneDNN convolutions. JavaScript passes Float32Array views (on the tfjs
// wasm heap) and a geometry; results are written into the `out` view in place.
//   conv(pass, geometry, a, b, out)  pass 0: y = x ⊛ w (a = x, b = w)
//                                    pass 1: dx from dy (a = dy, b = w)
//                                    pass 2: dw from x and dy (a = x, b = dy)
//   geometry: [n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, top, left]
//   sumRows(x, rows, width, out, mean)  out[j] = Σ_r x[r·width + j] (÷ rows when mean)
//   bnActForward(x, gamma, beta, eps, slope, y, mean, var)            fused BatchNorm + activation
//   bnActBackward(dy, x, y, gamma, mean, var, eps, slope, dx, dGamma, dBeta)
//   activationBackward(dy, y, slope, dx), leakyRelu(x, alpha, y)
//   adam(p, g, m, v, Float64Array [lr, beta1, beta2, eps, bc1, bc2], pOut, mOut, vOut)
#include <node_api.h>

#include <exception>
#include <string>

#include "conv.h"
#include "fused.h"
#include "reduce.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

struct Fail {
  std::string msg;
};

void check(napi_env env, napi_status st, const char* what) {
  if (st != napi_ok) throw Fail{std::string("ganomaly_dnnl: ") + what};
}

double numberArg(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw Fail{std::string("ganomaly_dnnl: ") + what + " must be a number"};
  return d;
}

int64_t intArg(napi_env env, napi_value v, const char* what) { return static_cast<int64_t>(numberArg(env, v, what)); }

ConvGeometry geometryArg(napi_env env, napi_value arr) {
  bool isArray = false;
  check(env, napi_is_array(env, arr, &isArray), "geometry");
  uint32_t len = 0;
  if (isArray) check(env, napi_get_array_length(env, arr, &len), "geometry");
  if (!isArray || len != 13) throw Fail{"ganomaly_dnnl: geometry must be an array of 13 integers"};
  int64_t v[13];
  for (uint32_t i = 0; i < 13; i++) {
    napi_value e;
    check(env, napi_get_element(env, arr, i, &e), "geometry");
    v[i] = intArg(env, e, "geometry entry");
  }
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
}

/** The data of a typed array of element type `want` (named `typeName` in errors); its length goes to `len`. */
void* typedArg(napi_env env, napi_value v, napi_typedarray_type want, const char* typeName, const char* what, size_t& len) {
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), what);
  napi_typedarray_type type;
  void* data = nullptr;
  if (isTyped) check(env, napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr), what);
  if (!isTyped || type != want) throw Fail{std::string("ganomaly_dnnl: ") + what + " must be a " + typeName};
  return data;
}

/** A Float32Array argument of any length; its length goes to `len`. */
float* floatsOf(napi_env env, napi_value v, const char* what, size_t& len) {
  return static_cast<float*>(typedArg(env, v, napi_float32_array, "Float32Array", what, len));
}

float* floatsArg(napi_env env, napi_value v, size_t expected, const char* what) {
  size_t length = 0;
  float* data = floatsOf(env, v, what, length);
  if (length != expected) {
    throw Fail{std::string("ganomaly_dnnl: ") + what + " has " + std::to_string(length) + " elements, expected " +
               std::to_string(expected)};
  }
  return data;
}

template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const Fail& e) {
    napi_throw_error(env, nullptr, e.msg.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("ganomaly_dnnl: oneDNN: ") + e.what()).c_str());
  }
  return nullptr;
}

void args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
  if (argc < want) throw Fail{"ganomaly_dnnl: expected " + std::to_string(want) + " arguments"};
}

ConvPass passArg(napi_env env, napi_value v) {
  int64_t p = intArg(env, v, "pass");
  if (p < 0 || p > 2) throw Fail{"ganomaly_dnnl: pass must be 0 (forward), 1 (backward data) or 2 (backward weights)"};
  return static_cast<ConvPass>(p);
}

napi_value Conv(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[5];
    args(env, info, 5, argv);
    ConvPass pass = passArg(env, argv[0]);
    ConvGeometry g = geometryArg(env, argv[1]);
    const size_t xs = g.n * g.h * g.w * g.cin, ys = g.n * g.oh * g.ow * g.cout, ws = g.kh * g.kw * g.cin * g.cout;
    const size_t sizes[3][3] = {{xs, ws, ys}, {ys, ws, xs}, {xs, ys, ws}};
    const size_t* sz = sizes[static_cast<int>(pass)];
    float* a = floatsArg(env, argv[2], sz[0], "a");
    float* b = floatsArg(env, argv[3], sz[1], "b");
    float* out = floatsArg(env, argv[4], sz[2], "out");
    convRun(pass, g, a, b, out);
    return nullptr;
  });
}

napi_value SumRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[5];
    args(env, info, 5, argv);
    const int64_t rows = intArg(env, argv[1], "rows");
    const int64_t width = intArg(env, argv[2], "width");
    if (rows < 1 || width < 1) throw Fail{"ganomaly_dnnl: rows and width must be at least 1"};
    bool mean = false;
    check(env, napi_get_value_bool(env, argv[4], &mean), "mean must be a boolean");
    const float* x = floatsArg(env, argv[0], static_cast<size_t>(rows * width), "x");
    float* out = floatsArg(env, argv[3], static_cast<size_t>(width), "out");
    sumRows(x, rows, width, out, mean);
    return nullptr;
  });
}

/** Rows of an [rows, c] buffer of n elements (c from a per-channel argument). */
int64_t rowsOf(size_t n, size_t c, const char* what) {
  if (c == 0 || n % c != 0) throw Fail{std::string("ganomaly_dnnl: ") + what + " length must be a multiple of the channel count"};
  return static_cast<int64_t>(n / c);
}

napi_value BnActForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[8];
    args(env, info, 8, argv);
    size_t n = 0, c = 0;
    const float* x = floatsOf(env, argv[0], "x", n);
    const float* gamma = floatsOf(env, argv[1], "gamma", c);
    const int64_t rows = rowsOf(n, c, "x");
    const float* beta = floatsArg(env, argv[2], c, "beta");
    const double eps = numberArg(env, argv[3], "eps");
    const float slope = static_cast<float>(numberArg(env, argv[4], "slope"));
    float* y = floatsArg(env, argv[5], n, "y");
    float* mean = floatsArg(env, argv[6], c, "mean");
    float* var = floatsArg(env, argv[7], c, "var");
    bnActForward(x, rows, static_cast<int64_t>(c), gamma, beta, eps, slope, y, mean, var);
    return nullptr;
  });
}

napi_value BnActBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[11];
    args(env, info, 11, argv);
    size_t n = 0, c = 0;
    const float* dy = floatsOf(env, argv[0], "dy", n);
    const float* gamma = floatsOf(env, argv[3], "gamma", c);
    const int64_t rows = rowsOf(n, c, "dy");
    const float* x = floatsArg(env, argv[1], n, "x");
    const float* y = floatsArg(env, argv[2], n, "y");
    const float* mean = floatsArg(env, argv[4], c, "mean");
    const float* var = floatsArg(env, argv[5], c, "var");
    const double eps = numberArg(env, argv[6], "eps");
    const float slope = static_cast<float>(numberArg(env, argv[7], "slope"));
    float* dx = floatsArg(env, argv[8], n, "dx");
    float* dGamma = floatsArg(env, argv[9], c, "dGamma");
    float* dBeta = floatsArg(env, argv[10], c, "dBeta");
    bnActBackward(dy, x, y, rows, static_cast<int64_t>(c), gamma, mean, var, eps, slope, dx, dGamma, dBeta);
    return nullptr;
  });
}

napi_value ActivationBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[4];
    args(env, info, 4, argv);
    size_t n = 0;
    const float* dy = floatsOf(env, argv[0], "dy", n);
    const float* y = floatsArg(env, argv[1], n, "y");
    const float slope = static_cast<float>(numberArg(env, argv[2], "slope"));
    activationBackward(dy, y, static_cast<int64_t>(n), slope, floatsArg(env, argv[3], n, "dx"));
    return nullptr;
  });
}

napi_value LeakyRelu(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[3];
    args(env, info, 3, argv);
    size_t n = 0;
    const float* x = floatsOf(env, argv[0], "x", n);
    const float alpha = static_cast<float>(numberArg(env, argv[1], "alpha"));
    leakyRelu(x, static_cast<int64_t>(n), alpha, floatsArg(env, argv[2], n, "y"));
    return nullptr;
  });
}

napi_value Adam(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[8];
    args(env, info, 8, argv);
    size_t n = 0, hn = 0;
    const float* p = floatsOf(env, argv[0], "p", n);
    const float* g = floatsArg(env, argv[1], n, "g");
    const float* m = floatsArg(env, argv[2], n, "m");
    const float* v = floatsArg(env, argv[3], n, "v");
    const double* hp = static_cast<const double*>(typedArg(env, argv[4], napi_float64_array, "Float64Array", "hyper", hn));
    if (hn != 6) throw Fail{"ganomaly_dnnl: hyper must hold lr, beta1, beta2, eps, bc1, bc2"};
    const auto f = [](double d) { return static_cast<float>(d); };
    const AdamHyper h{f(hp[0]), f(hp[1]), f(hp[2]), f(1.0 - hp[1]), f(1.0 - hp[2]), f(hp[3]), f(hp[4]), f(hp[5])};
    adamUpdate(p, g, m, v, static_cast<int64_t>(n), h, floatsArg(env, argv[5], n, "pOut"), floatsArg(env, argv[6], n, "mOut"),
               floatsArg(env, argv[7], n, "vOut"));
    return nullptr;
  });
}

napi_value Impl(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[2];
    args(env, info, 2, argv);
    const char* s = convImpl(passArg(env, argv[0]), geometryArg(env, argv[1]));
    napi_value r;
    check(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r), "result");
    return r;
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value argv[1];
    args(env, info, 1, argv);
    convSetThreads(static_cast<int>(intArg(env, argv[0], "threads")));
    return nullptr;
  });
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value r;
  napi_create_int32(env, convGetThreads(), &r);
  return r;
}

napi_value Version(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  std::string s = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  napi_value r;
  napi_create_string_utf8(env, s.c_str(), NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"conv", nullptr, Conv, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sumRows", nullptr, SumRows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bnActForward", nullptr, BnActForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bnActBackward", nullptr, BnActBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"activationBackward", nullptr, ActivationBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"leakyRelu", nullptr, LeakyRelu, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"impl", nullptr, Impl, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
