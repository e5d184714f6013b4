{
  "targets": [
    {
      "target_name": "ganomaly_dnnl",
      "sources": ["src/addon.cc", "src/conv.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
