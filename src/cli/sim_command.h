// `fnhost sim`: replays invocation traces through the keep-alive policies and reports cold
// starts and wasted memory per policy.

#ifndef FNHOST_SRC_CLI_SIM_COMMAND_H_
#define FNHOST_SRC_CLI_SIM_COMMAND_H_

namespace fnhost::cli {

// argv[1] is "sim"; returns the exit code (0 ok, 1 failure, 2 bad usage).
int RunSimCommand(int argc, char** argv);

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_SIM_COMMAND_H_
