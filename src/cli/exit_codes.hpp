#pragma once
// ximup's exit codes. Chosen once; scripts and cron jobs depend on them: never renumber.
namespace ximup::exit_code {
inline constexpr int ok = 0;               // every input succeeded
inline constexpr int failed = 1;           // some inputs failed permanently (rejected by the API, unreadable)
inline constexpr int usage = 2;            // bad flag or configuration, untrusted TLS certificate
inline constexpr int auth = 3;             // the API refused the token (401/403)
inline constexpr int input_not_found = 4;  // an input directory or file does not exist
// failures remain that a rerun may fix (network, 5xx, 429), server unreachable
inline constexpr int transient = 5;
inline constexpr int locked = 6;              // another run holds the state lock
inline constexpr int io_error = 7;            // cannot write results or state (disk full, damaged state file)
inline constexpr int internal = 70;           // an unexpected exception: a bug (EX_SOFTWARE)
inline constexpr int interrupted_hup = 129;   // SIGHUP (a closed terminal or SSH session)
inline constexpr int interrupted_int = 130;   // SIGINT
inline constexpr int interrupted_term = 143;  // SIGTERM
}  // namespace ximup::exit_code
