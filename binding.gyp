{
  # Kernel sources are collected by name so adding a kernel file needs no edit here:
  # native/cpu/*_avx2.cc are compiled with AVX2+FMA and native/cpu/*_avx512.cc with AVX-512 into their own
  # libraries, chosen at run time.
  "target_defaults": {
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=c++17"],
    "cflags": ["-O3", "-fPIC"],
    "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fexceptions"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["-O3"]
    },
    "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
  },
  "targets": [
    {
      "target_name": "tn_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f => f.endsWith('_avx2.cc')).map(f => 'native/cpu/' + f).join(' ')\")"],
          "cflags_cc": ["-mavx2", "-mfma"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma"] }
        }]
      ]
    },
    {
      "target_name": "tn_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f => f.endsWith('_avx512.cc')).map(f => 'native/cpu/' + f).join(' ')\")"],
          "cflags_cc": ["-mavx2", "-mfma", "-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mprefer-vector-width=512"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq"] }
        }]
      ]
    },
    {
      "target_name": "transformer_native",
      "sources": ["<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f => f.endsWith('.cc') && !/_avx(2|512)\\.cc$/.test(f)).map(f => 'native/cpu/' + f).join(' ')\")",
                  "<!@(node -p \"require('fs').readdirSync('native/addon').filter(f => f.endsWith('.cc')).map(f => 'native/addon/' + f).join(' ')\")"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
      ],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["tn_avx2", "tn_avx512"],
          "defines": ["TN_HAVE_AVX2=1", "TN_HAVE_AVX512=1"]
        }]
      ]
    }
  ]
}
