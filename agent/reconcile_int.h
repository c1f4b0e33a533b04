/* reconcile_int.h: the state reconcile.c and reconcile_view.c share (private to agent/reconcile*).
 * reconcile.c owns the per-ID entries, the writes, retries and the life cycle; reconcile_view.c
 * owns reading Consul's view (polls, the catalog watch, resync, cleanup) and the heartbeats. */
#ifndef PORTOLAN_AGENT_RECONCILE_INT_H
#define PORTOLAN_AGENT_RECONCILE_INT_H

#include "backoff.h"
#include "owners.h"
#include "consul_watch.h"
#include "reconcile.h"
#include "strmap.h"

#include <string.h>

typedef struct entry entry_t;

struct entry {
    reconcile_t *r;
    char *id;
    char *ctr_id;
    json_t *want;        /* register body, or NULL: want absent */
    json_t *want_cmp;    /* want without the health check's Status */
    int no_checks;       /* Consul refused want's checks for good: register without them */
    json_t *bare;        /* want without Check/Checks (when no_checks) */
    json_t *bare_cmp;
    char *desc;          /* log description of want */
    char *health_id;     /* Docker health mirror CheckID, or NULL */
    char *ttl_id;        /* -ttl CheckID, or NULL */
    const char *want_health; /* "passing"/"critical" (static strings) */
    json_t *have;        /* cmp body Consul has (as far as we know), or NULL */
    int have_unknown;    /* Consul may hold it though we never wrote it (cleanup) */
    const char *have_health; /* last status written to the health check, or NULL */
    json_t *sending;     /* cmp body of the register call in flight */
    const char *sending_health;
    int restoring;       /* have was dropped because Consul lost it */
    uint64_t have_seq;   /* r->seq when have was last set by a successful write */
    consul_call_t *call; /* the one call in flight for this ID */
    int hb_ttl_due, hb_health_due; /* heartbeats asked for by the heartbeat timer */
    int queued;          /* waiting in the write queue for a free slot */
    entry_t *qnext;
    uint64_t retry_at;   /* loop ms; 0 = not waiting */
    backoff_t bo;
};

/* What one container wants for one service ID, kept whether or not it holds the ID (owners.h),
 * so that the next claimant's registration is at hand when the holder gives the ID up. */
typedef struct {
    char *id;
    json_t *body;    /* register body */
    json_t *cmp;     /* body without the health check's Status */
    char *desc;      /* log description */
    char *health_id; /* Docker health mirror CheckID, or NULL */
    char *ttl_id;    /* -ttl CheckID, or NULL */
} wish_t;

typedef struct {
    wish_t *w;
    size_t n;
    const char *want_health; /* "passing"/"critical" (static strings) */
} ctr_rec_t;

struct reconcile {
    uv_loop_t *loop;
    consul_client_t *cc;
    char *node;
    reconcile_opts_t o;
    strmap_t *entries; /* id -> entry_t */
    strmap_t *ctrs;    /* ctr id -> ctr_rec_t */
    owners_t *owners;  /* which container holds each claimed ID */
    entry_t **retry;   /* entries waiting for retry_at */
    size_t nretry, capretry;
    uv_timer_t retry_timer, poll_timer, hb_timer, shutdown_timer;
    int timers_open;
    int closing; /* timers whose close callback has not run yet */
    consul_call_t *poll_call;
    int want_resync, want_cleanup;
    uint64_t seq;        /* orders write completions against poll sends */
    consul_watch_t *watch; /* blocking query on /v1/catalog/services: wakes a poll on changes */
    int suspect;         /* Consul may have lost state: poll every poll_ms until a poll works */
    int check_pending;   /* the catalog changed: poll at the next tick */
    uint64_t last_poll_ms;
    uint64_t poll_seq;   /* seq when the poll in flight was sent */
    int stopping, deregister_on_stop, done_called;
    void (*done)(void *);
    void *done_data;
    size_t inflight;     /* calls in flight (writes + poll) */
    size_t writes;       /* entry calls in flight (bounded by MAX_WRITES) */
    entry_t *qhead, *qtail; /* entries waiting for a write slot, FIFO */
    reconcile_stats_t st;
};

/* Concurrent Consul calls for entries: well below Consul's 200 connections per client IP, and
 * enough to register hundreds of services per second on one keep-alive pool. */
#define MAX_WRITES 32


static inline uint64_t rc_now_ms(reconcile_t *r) { return uv_now(r->loop); }
/* Consul could not be reached at all (a 5xx is an answer: backing off is right there, and a
 * working poll must not reset that backoff every second). */
static inline int rc_transport_error(const consul_result_t *res) { return res->status == 0; }
static inline const char *rc_health_note(const char *status)
{
    return !strcmp(status, "passing") ? "docker: healthy" : "docker: not healthy";
}

/* reconcile.c */
entry_t *rc_entry_get(reconcile_t *r, const char *id, int create);
void rc_kick(entry_t *e);
void rc_set_consul_up(reconcile_t *r, int up, const char *error);
void rc_write_done(reconcile_t *r);
void rc_call_done(reconcile_t *r);
/* reconcile_view.c */
void rc_on_heartbeat(consul_client_t *c, const consul_result_t *res, void *data);

#endif
