/* signals.c: turns process signals into loop callbacks. The handles are unref'd so they never
 * keep a loop alive on their own; a second stop signal forces exit for impatient operators. */
#include "signals.h"
#include "log.h"

#include <signal.h>
#include <stdlib.h>

struct signals {
    uv_signal_t term, intr, hup;
    signals_cb on_stop, on_hup;
    void *data;
    int stopping;
    int open;
};

static void on_signal(uv_signal_t *h, int signum)
{
    signals_t *s = h->data;
    if (signum == SIGHUP) {
        log_info("SIGHUP received");
        if (s->on_hup)
            s->on_hup(s->data);
        return;
    }
    if (s->stopping) {
        log_warn("second stop signal: exiting now");
        exit(130);
    }
    s->stopping = 1;
    log_info("%s received: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (s->on_stop)
        s->on_stop(s->data);
}

signals_t *signals_new(uv_loop_t *loop, signals_cb on_stop, signals_cb on_hup, void *data)
{
    signals_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->on_stop = on_stop;
    s->on_hup = on_hup;
    s->data = data;
    uv_signal_t *hs[] = {&s->term, &s->intr, &s->hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(loop, hs[i]);
        hs[i]->data = s;
        uv_signal_start(hs[i], on_signal, nums[i]);
        uv_unref((uv_handle_t *)hs[i]);
    }
    s->open = 3;
    signal(SIGPIPE, SIG_IGN);
    return s;
}

static void on_close(uv_handle_t *h)
{
    signals_t *s = h->data;
    if (--s->open == 0)
        free(s);
}

void signals_free(signals_t *s)
{
    if (!s)
        return;
    uv_close((uv_handle_t *)&s->term, on_close);
    uv_close((uv_handle_t *)&s->intr, on_close);
    uv_close((uv_handle_t *)&s->hup, on_close);
}
