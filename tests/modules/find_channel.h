// For the hostile isolation test modules: finds the socket a worker talks to the host on,
// the way a misbehaving module would, by probing its descriptors (the first socket from fd 3).
#ifndef FNHOST_TESTS_MODULES_FIND_CHANNEL_H_
#define FNHOST_TESTS_MODULES_FIND_CHANNEL_H_

#include <sys/stat.h>

inline int FindChannelFd() {
  for (int fd = 3; fd < 1024; ++fd) {
    struct stat info;
    if (::fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode)) return fd;
  }
  return -1;
}

#endif  // FNHOST_TESTS_MODULES_FIND_CHANNEL_H_
