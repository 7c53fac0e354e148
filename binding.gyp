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
      # SQLite linked statically (its symbols kept out of the addon's dynamic
      # symbol table, so another SQLite in the process never binds to ours):
      # the addon needs nothing beyond glibc, libstdc++, libgcc and OpenSSL 3
      # (docs/packaging.md; scripts/pack-test.sh checks it with ldd).
      "libraries": ["-Wl,--exclude-libs,libsqlite3.a", "<!(pkg-config --variable=libdir sqlite3)/libsqlite3.a",
                    "<!@(pkg-config --libs libssl libcrypto)", "-lm"]
    }
  ]
}
