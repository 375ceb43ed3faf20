# fnhost_add_module(<target> SOURCES <src>...)
#
# Builds a fnhost module: a shared object that exports only the fnhost entry symbol.
# The flags are those the README lists ("Five minutes for module authors"): hidden
# visibility so that nothing but the entry leaks into the host's symbol namespace,
# -fno-gnu-unique so that dlclose can really unload the object, and the global-dynamic TLS
# model so that repeated loads do not exhaust the static TLS surplus. A version script keeps
# every other symbol local.
include_guard(GLOBAL)

function(fnhost_add_module target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${target} MODULE ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_compile_options(${target} PRIVATE -ftls-model=global-dynamic
    $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  # Hidden visibility does not cover what the C++ standard library's headers declare with
  # default visibility (e.g. static locals of std:: templates); a version script does.
  set(version_script ${CMAKE_BINARY_DIR}/fnhost_module_exports.map)
  if(NOT EXISTS ${version_script})
    file(WRITE ${version_script} "{\n  global: fnhost_module_entry;\n  local: *;\n};\n")
  endif()
  # A build id gives every build a distinct identity for snapshots.
  target_link_options(${target} PRIVATE -Wl,--build-id=sha1 -Wl,-z,now
    -Wl,--version-script=${version_script})
  if(NOT FNHOST_SANITIZE)
    # Sanitizer runtimes resolve from the host, so only plain builds can insist on this.
    target_link_options(${target} PRIVATE -Wl,-z,defs)
  endif()
  if(TARGET fnhost::module_sdk)
    target_link_libraries(${target} PRIVATE fnhost::module_sdk)
  elseif(TARGET fnhost_module_sdk)
    target_link_libraries(${target} PRIVATE fnhost_module_sdk)
  endif()
  if(ARG_LIBRARIES)
    target_link_libraries(${target} PRIVATE ${ARG_LIBRARIES})
  endif()
endfunction()
