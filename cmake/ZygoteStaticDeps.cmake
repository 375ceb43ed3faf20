# fnhost_link_static_deps(<target>): links Abseil, protobuf, libcrypto, xxHash and libseccomp
# into <target> from their static archives, and binds every symbol at start.
#
# For the zygote, which forks every worker: each shared library it maps is five more memory
# areas for fork to copy and text that every worker faults in again, and a symbol bound lazily
# is looked up again in every worker. With the archives, BM_WorkerSpawnStrict/64 fell from
# 1.26x to about 1.0x BM_ForkExecFloor (docs/worker-spawn-profile.md, cut 5). Debian's -dev
# packages ship the archives, built as position-independent code; where one is missing the
# target keeps the shared libraries, and FNHOST_ZYGOTE_STATIC_DEPS says which way it went
# (tests/zygote_linkage_test.sh checks it).
#
# The archives come first on the link line, so that they resolve every symbol; --as-needed then
# drops the shared libraries that the targets' usage requirements still list. A program with
# both copies of a library would have two of its globals: the linkage test rules that out.

function(fnhost_link_static_deps target)
  set(archives)
  foreach(name seccomp xxhash crypto protobuf absl_base)
    find_library(FNHOST_STATIC_${name} NAMES lib${name}.a)
    if(NOT FNHOST_STATIC_${name})
      set(FNHOST_ZYGOTE_STATIC_DEPS OFF PARENT_SCOPE)
      message(STATUS "fnhost: no lib${name}.a; ${target} links the shared libraries")
      return()
    endif()
    if(NOT name STREQUAL "absl_base")
      list(APPEND archives ${FNHOST_STATIC_${name}})
    endif()
  endforeach()
  get_filename_component(absl_dir ${FNHOST_STATIC_absl_base} DIRECTORY)
  file(GLOB absl_archives ${absl_dir}/libabsl_*.a)
  find_package(ZLIB REQUIRED)  # protobuf's archive needs it
  target_link_libraries(${target} PRIVATE -Wl,--start-group ${archives} ${absl_archives}
                        -Wl,--end-group ZLIB::ZLIB)
  target_link_options(${target} PRIVATE -Wl,--as-needed -Wl,-z,now)
  set(FNHOST_ZYGOTE_STATIC_DEPS ON PARENT_SCOPE)
endfunction()
