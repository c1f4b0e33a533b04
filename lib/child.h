/* child.h: a child process on a libuv loop (uv_spawn), the one wrapper behind every program the
 * daemons run: `haproxy -c`, the HAProxy master, the -template command. Owns the process handle,
 * the stderr pipe and the timer, and frees them itself once the process has ended and its
 * callback has returned. Promises: the exit callback runs exactly once, after the process has
 * exited and (when stderr is captured) its stderr has reached end of file, so the captured bytes
 * are complete; a timeout or a stop escalates to SIGKILL; the loop is never blocked; stdin is
 * /dev/null. Never: logs, waits, or kills a process it was told to forget. */
#ifndef PORTOLAN_CHILD_H
#define PORTOLAN_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct child child_t;

typedef struct {
    int64_t status;     /* exit status (0 when killed by a signal) */
    int sig;            /* the signal that ended it, or 0 */
    int timed_out;      /* 1: killed with SIGKILL after timeout_ms */
    const char *err;    /* captured stderr (capture_stderr > 0), NUL-terminated, borrowed; else NULL */
    size_t errlen;
} child_result_t;

typedef void (*child_exit_cb)(const child_result_t *r, void *data);

typedef struct {
    const char *file;           /* the program (looked up in PATH when it has no '/') */
    char *const *args;          /* argv, args[0] the program's name, NULL-terminated */
    size_t capture_stderr;      /* 0: stderr is the daemon's (fd 2); n: the first n bytes are
                                 * kept for the callback, the rest is read and dropped */
    int stdout_ignore;          /* 1: stdout to /dev/null; 0: to the daemon's stderr (logs) */
    uint64_t timeout_ms;        /* 0: none; else SIGKILL once it has run this long */
    int nice;                   /* 0: the daemon's priority; 1-19: lowered to this nice value
                                 * right after the start (work that must not compete with serving) */
    child_exit_cb on_exit;
    void *data;
} child_opts_t;

/* Starts it. NULL when it cannot be started (err says why, without the program's name: libuv's
 * message or "out of memory"; on_exit is never called). */
child_t *child_spawn(uv_loop_t *loop, const child_opts_t *o, char *err, size_t errlen);
int child_pid(const child_t *c);
/* Sends sig (0 when sent or already gone, else a negative libuv error). */
int child_kill(child_t *c, int sig);
/* SIGTERM now, SIGKILL if it still runs grace_ms later. on_exit still runs. */
void child_stop(child_t *c, uint64_t grace_ms);
/* The owner goes away: on_exit will not be called; the process keeps running and what is left of
 * the child is freed when it ends. */
void child_forget(child_t *c);

#endif
