{
  "targets": [
    {
      "target_name": "ganomaly_dnnl",
      "sources": ["src/addon.cc", "src/conv.cc", "src/reduce.cc", "src/fused.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fopenmp", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
