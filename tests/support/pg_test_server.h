// The throwaway PostgreSQL server of scripts/start-postgres.sh, as the tests that need a
// real server (the postgres connector's, the store's) reach it.
#ifndef DEALCOACH_TESTS_SUPPORT_PG_TEST_SERVER_H_
#define DEALCOACH_TESTS_SUPPORT_PG_TEST_SERVER_H_

#include <string>

namespace dealcoach::testing {

// Runs the server script with `command` (start|restart|stop) and applies its
// `export K='v'` lines to this process's environment. "" on success, else the reason.
std::string RunPgScript(const std::string& command);

// The test server's connection string. Always runs the script's idempotent `start`
// (flock-serialised, a no-op when the server is up) unless DEALCOACH_TEST_PG names an
// external server without a script, so a stale environment variable never points the
// tests at a server nobody started. "" with the reason in *why when there is none.
std::string PgTestConninfo(std::string* why);

}  // namespace dealcoach::testing

#endif  // DEALCOACH_TESTS_SUPPORT_PG_TEST_SERVER_H_
