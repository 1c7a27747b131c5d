/* LD_PRELOAD=libpydebug.so PYDEBUG_FAULTHANDLER=1: install the crash handler
 * when the library is loaded, with no change to the program.
 *
 * Built into the shared library only: linking the static library must never
 * install anything. The constructor reads its variables and returns at once
 * when none is set: no maps read, no file opened, no memory allocated.
 *
 * It runs before main, so for python itself the interpreter is not
 * initialised yet. That is fine: what is located here (the interpreter's ELF
 * file, its symbols, the version, the layout, 3.13's _Py_DebugOffsets) is
 * static data, already mapped because libpython (or the executable) is loaded
 * before any constructor runs; the live state is read at dump time. A process
 * without CPython (a shell the program starts, which inherits the
 * environment) is left alone. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "faultdump/fd_install.h"
#include "pydebug/faultdump.h"

static const struct {
    const char *name;
    int signum;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"PWR", SIGPWR}, {"SYS", SIGSYS}, {"TRAP", SIGTRAP},
};

/* "SIGUSR1", "USR1", "usr1", "10", "SIGRTMIN+2" -> signal number, or 0. */
static int parse_signal(const char *text)
{
    char *end;
    long number;
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    number = strtol(text, &end, 10);
    if (end != text && *end == '\0')
        return number > 0 && number < 65 ? (int)number : 0;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (strcasecmp(text, signal_names[i].name) == 0)
            return signal_names[i].signum;
    if (strncasecmp(text, "RTMIN", 5) == 0) {
        long offset = text[5] == '\0' ? 0 : strtol(text + 5, &end, 10);
        if ((text[5] == '\0' || (text[5] == '+' && *end == '\0')) && offset >= 0 &&
            SIGRTMIN + offset <= SIGRTMAX)
            return SIGRTMIN + (int)offset;
    }
    return 0;
}

__attribute__((constructor)) static void pydbg_preload_init(void)
{
    const char *enable = getenv("PYDEBUG_FAULTHANDLER");
    const char *dump_signal = getenv("PYDEBUG_DUMP_SIGNAL");
    const char *file;
    int want_crash = enable && strcmp(enable, "1") == 0;
    int want_signal = dump_signal && dump_signal[0];
    int signum = 0;
    if (!want_crash && !want_signal)
        return;
    if (want_signal) {
        signum = parse_signal(dump_signal);
        if (!signum) {
            fprintf(stderr, "pydebug: PYDEBUG_DUMP_SIGNAL=%s is not a signal name or number "
                            "(use e.g. SIGUSR1)\n", dump_signal);
            want_signal = 0;
        }
    }
    if (!pydbg__fd_python_present())
        return;
    file = getenv("PYDEBUG_FAULTHANDLER_FILE");
    if (file && !file[0])
        file = NULL;
    if (want_crash && pydbg__fd_install(0, 2, file, 0) != 0)
        fprintf(stderr, "pydebug: cannot install the crash handler\n");
    if (want_signal && pydbg__fd_register(signum, 2, file, 0) != 0)
        fprintf(stderr, "pydebug: cannot register signal %d for dumps\n", signum);
}
