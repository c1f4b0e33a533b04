/* signals.h: SIGTERM/SIGINT (graceful stop) and SIGHUP (reload) on a libuv loop.
 * Owns three uv_signal_t handles; signals_close releases them through uv_close. */
#ifndef PORTOLAN_SIGNALS_H
#define PORTOLAN_SIGNALS_H

#include <uv.h>

typedef struct signals signals_t;
typedef void (*signals_cb)(void *data);

/* on_stop runs on the first SIGTERM or SIGINT; a second one exits at once (status 130).
 * on_hup may be NULL. */
signals_t *signals_new(uv_loop_t *loop, signals_cb on_stop, signals_cb on_hup, void *data);
void signals_free(signals_t *s);

#endif
