/* scale_nodes.h: the child processes behind POST /v1/scale-nodes (libuv uv_spawn).
 *
 * Owns: the node command's processes, their output pipes and time limits. The command is run
 * as `<cmd> up|down <n> worker|manager` with the agent's environment; "machine" names the
 * cluster scripts' scripts/scaleNodes.sh (found at $PORTOLAN_SCRIPTS/scaleNodes.sh, else next
 * to the binary's ../scripts/). Promises: at most `max` children at a time (a further request is
 * refused, never queued), each killed (SIGTERM, then SIGKILL 10 s later) after the time limit; the
 * last 4 KiB of its stdout (its stderr goes to the agent's) are handed to the callback with its exit status.
 * Never: runs a shell; the arguments are built by the agent, never taken from a request as text.
 */
#ifndef PORTOLAN_AGENT_SCALE_NODES_H
#define PORTOLAN_AGENT_SCALE_NODES_H

#include <stdint.h>
#include <uv.h>

typedef struct scale_nodes scale_nodes_t;

/* exit_status: the child's (-1 when it could not run or was killed); term_signal: the signal
 * that ended it, else 0; output: its last output (NUL-terminated, maybe ""). */
typedef void (*scale_nodes_done_cb)(int exit_status, int term_signal, const char *output, void *data);

/* cmd "" or NULL: scale-nodes is off (scale_nodes_new returns NULL, not an error). */
scale_nodes_t *scale_nodes_new(uv_loop_t *loop, const char *cmd, int max, uint64_t timeout_ms);
/* The resolved command (for messages). */
const char *scale_nodes_cmd(const scale_nodes_t *sn);
int scale_nodes_running(const scale_nodes_t *sn);
/* Starts `<cmd> <dir> <n> <type>`. Returns 0 (cb runs later, once), or -1 with err (too many
 * running, or spawn failed: cb never runs). */
int scale_nodes_start(scale_nodes_t *sn, const char *dir, long n, const char *type, scale_nodes_done_cb cb,
                      void *data, char *err, size_t errlen);
/* Forgets callbacks, kills the children (SIGTERM) and frees once their handles are closed. */
void scale_nodes_free(scale_nodes_t *sn);

#endif
