{
  # The Node addon. As in node-tree-sitter, the portable core is a static library
  # of its own and the addon target depends on it; the source list comes from
  # scripts/sources.mjs, which the WASM build reads too.
  "targets": [
    {
      "target_name": "chatwire_core",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.mjs core)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "direct_dependent_settings": { "include_dirs": ["src"] }
    },
    {
      "target_name": "chatwire",
      "dependencies": ["chatwire_core"],
      "sources": ["<!@(node -e \"require('fs').readdirSync('src/node').filter(f=>f.endsWith('.cc')).forEach(f=>console.log('src/node/'+f))\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": ["<!@(pkg-config --libs libwebsockets sqlite3 libcrypto)", "-ldl"]
    }
  ]
}
