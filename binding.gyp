{
  "targets": [
    {
      "target_name": "socket_activation",
      "sources": [
        "native/init.cc",
        "native/facts.cc",
        "native/inspect.cc",
        "native/descriptors.cc",
        "native/registry.cc",
        "native/sockets.cc",
        "native/process.cc",
        "native/notify.cc",
        "native/claims.cc",
        "native/watch.cc",
        "native/receive.cc",
        "native/spawn.cc",
        "native/glibc-compat.c",
        "native/libstdcxx-compat.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-Wall", "-Wextra", "-Werror", "-fvisibility=hidden", "-std=c++17"],
      "xcode_settings": {
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-std=c++17"]
      },
      "configurations": {
        "Debug": { "defines": ["NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS"] }
      }
    },
    {
      "target_name": "socket-activation-reload",
      "type": "executable",
      "sources": ["native/reload-command.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
