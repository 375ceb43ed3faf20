// A well-formed shared object that is not a module: it exports a function, but not
// fnhost_module_entry. Loaders must refuse it with a clear error.
extern "C" __attribute__((visibility("default"))) int not_a_module_entry() { return 1; }
