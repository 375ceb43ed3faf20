// A plain shared library (not a module) that origin_user.so needs and finds next to itself,
// through RUNPATH $ORIGIN, as a module that bundles its own dependencies does.
extern "C" __attribute__((visibility("default"))) int fnhost_origin_dep_value() { return 42; }
