// dealcoach: the sidecar and its command line. See cli.h.
#include "sidecar/server/cli.h"

int main(int argc, char** argv) { return dealcoach::server::RunCli(argc, argv); }
