/* The typed form of "adder", a host service the SDK tests and benchmarks offer to modules, as
 * an embedder's header would define it. Version 1: add. */
#ifndef FNHOST_TESTS_MODULES_TEST_SERVICES_H_
#define FNHOST_TESTS_MODULES_TEST_SERVICES_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fnhost_test_adder_v1 {
  int64_t (*add)(void* data, int64_t a, int64_t b);
} fnhost_test_adder_v1;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FNHOST_TESTS_MODULES_TEST_SERVICES_H_ */
