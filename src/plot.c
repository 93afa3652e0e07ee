/* plot.c - gnuplot (plot.h). */
#include "src/plot.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int lpt_gnuplot(const char *who, const char *dir, const char *script) {
    static int told;
    fflush(stdout);
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(126);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        if (!told++) printf("lpt %s: no gnuplot (Debian: gnuplot-nox), so no plots; %s/%s is written for later\n", who, dir, script);
        return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "lpt %s: gnuplot %s/%s failed\n", who, dir, script);
        return -1;
    }
    return 0;
}

void lpt_plot_name(const char *s, char *buf, int n) {
    if (buf != s) snprintf(buf, (size_t)n, "%s", s); /* in place is allowed */
    for (char *q = buf; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-')) *q = '_';
}
