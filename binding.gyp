# The optional native kernels (native/README.md). Built by scripts/build-native.mjs from `npm ci`;
# the project works without them.
{
  "targets": [
    {
      "target_name": "camrec_native",
      "sources": [
        "native/camrec_native.cc",
        "native/kernels_generic.cc",
        "native/kernels_avx2.cc",
        "native/topk.cc",
        "native/optimizer.cc",
        "native/wire.cc",
        "native/noise.cc",
        "native/fused.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-O3", "-pthread"],
      "cflags_cc": ["-O3", "-fexceptions", "-ffp-contract=fast", "-fno-math-errno", "-pthread"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=fast"]
      }
    }
  ]
}
