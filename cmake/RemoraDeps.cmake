# Finds every system dependency. Each failure names the Debian package to install
# (deploy/install-deps.sh installs them all).
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' (or run deploy/install-deps.sh)")
endif()

function(remora_require_pc target module package)
  pkg_check_modules(${target} IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: install the Debian package '${package}' (or run deploy/install-deps.sh)")
  endif()
endfunction()

remora_require_pc(UV libuv libuv1-dev)
remora_require_pc(NGHTTP2 libnghttp2 libnghttp2-dev)
remora_require_pc(YAML yaml-0.1 libyaml-dev)
remora_require_pc(CJSON libcjson libcjson-dev)
remora_require_pc(CRYPTO libcrypto libssl-dev)
remora_require_pc(SQLITE sqlite3 libsqlite3-dev)
remora_require_pc(PROTOBUF_C libprotobuf-c libprotobuf-c-dev)

# llhttp: Debian's node-llhttp ships the generated C sources and the header as plain files;
# we compile them into a static library of our own.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp /usr/include NO_DEFAULT_PATH)
find_file(LLHTTP_C llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_API_C api.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_HTTP_C http.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_C OR NOT LLHTTP_API_C OR NOT LLHTTP_HTTP_C)
  message(FATAL_ERROR "llhttp C sources not found under /usr/share/llhttp: install the Debian package 'node-llhttp' (or run deploy/install-deps.sh)")
endif()
add_library(llhttp STATIC ${LLHTTP_C} ${LLHTTP_API_C} ${LLHTTP_HTTP_C})
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
target_compile_options(llhttp PRIVATE -w)
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)

find_package(Threads REQUIRED)

if(REMORA_TESTS)
  remora_require_pc(CMOCKA cmocka libcmocka-dev)
endif()
