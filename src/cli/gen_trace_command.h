// `fnhost gen-trace`: writes a synthetic trace in the Azure Functions 2019 format.

#ifndef FNHOST_SRC_CLI_GEN_TRACE_COMMAND_H_
#define FNHOST_SRC_CLI_GEN_TRACE_COMMAND_H_

namespace fnhost::cli {

// argv[1] is "gen-trace"; returns the exit code (0 ok, 1 failure, 2 bad usage).
int RunGenTraceCommand(int argc, char** argv);

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_GEN_TRACE_COMMAND_H_
