// The `fnhost` subcommands. Each takes the whole argv (argv[1] is the subcommand's name) and
// returns the process exit code; errors are one line on stderr naming the file and the cause.

#ifndef FNHOST_SRC_CLI_COMMANDS_H_
#define FNHOST_SRC_CLI_COMMANDS_H_

namespace fnhost::cli {

int RunCommand(int argc, char** argv);
int InspectCommand(int argc, char** argv);
int ServeCommand(int argc, char** argv);
int SnapshotCommand(int argc, char** argv);

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_COMMANDS_H_
