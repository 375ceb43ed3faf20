// A module's dependencies: found where the module's file lies, and kept loaded.
//
// A module is dlopened from a sealed copy ("/proc/self/fd/N"), where $ORIGIN in its RUNPATH
// would mean /proc/self/fd; PreloadOriginDependencies loads the dependencies that the RUNPATH
// finds next to the real file first, so that the module's own load finds them by name.
//
// PinObjectsLoadedSince keeps a module's dependencies loaded for the life of the process, so
// that unloading a module unmaps only the module's own object. Libraries with their own threads (an OpenMP runtime,
// BLAS, gRPC) keep those threads after the module's state is destroyed; dlclose of the module
// would otherwise unload such a library under its threads, and crash the host when they wake.
//
// Usage, with the dynamic loader's calls serialised by the caller:
//   const uint64_t before = LoadedObjectCount();
//   void* handle = dlopen(...);
//   PinObjectsLoadedSince(before, module_name);
// Not thread-safe on its own: the caller holds the lock it takes around dlopen and dlclose, so
// that no other module's load interleaves between the two lists.

#ifndef FNHOST_SRC_LOADER_DEPENDENCIES_H_
#define FNHOST_SRC_LOADER_DEPENDENCIES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fnhost {

// How many objects the dynamic loader has loaded since the process started (glibc's dlpi_adds):
// O(1), so that the common load, which brings no new dependency, costs nothing more.
uint64_t LoadedObjectCount();

// Marks RTLD_NODELETE every named object loaded since LoadedObjectCount() was `before` (the
// newest objects in the loader's list), except the one named `module` itself. Returns how many
// were pinned.
int PinObjectsLoadedSince(uint64_t before, const std::string& module);

// For a module file at `path` whose RUNPATH (or RPATH) `runpath` uses $ORIGIN: dlopens each of
// `needed` that is found in a $ORIGIN directory of it, resolved against the directory of
// `path` as glibc would. Libraries it does not find there are left to the module's own load.
void PreloadOriginDependencies(const std::string& path, const std::string& runpath,
                               const std::vector<std::string>& needed);

}  // namespace fnhost

#endif  // FNHOST_SRC_LOADER_DEPENDENCIES_H_
