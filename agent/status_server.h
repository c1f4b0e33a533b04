/* status_server.h: the agent's tiny HTTP endpoint for /metrics and /health (-listen). libuv TCP +
 * nodejs http-parser; one request per connection (Connection: close), GET/HEAD only, requests
 * capped at 8 KiB, idle connections closed after 10 s. A stand-in until a shared lib/http_server.h
 * exists; it owns its listening socket and every client connection. */
#ifndef PORTOLAN_AGENT_STATUS_SERVER_H
#define PORTOLAN_AGENT_STATUS_SERVER_H

#include <stddef.h>
#include <uv.h>

typedef struct status_server status_server_t;

/* Fills the answer for path (without query). *body is malloc'd by the handler (freed by the
 * server); *content_type is static. Returns the HTTP status. */
typedef int (*status_handler_cb)(const char *path, char **body, size_t *len,
                                 const char **content_type, void *data);

/* listen: "host:port" or "[v6]:port". NULL with err set when the address is bad or in use. */
status_server_t *status_server_new(uv_loop_t *loop, const char *listen, status_handler_cb handler,
                                   void *data, char *err, size_t errlen);
/* Closes the listener and every connection (through uv_close; memory goes with the callbacks). */
void status_server_free(status_server_t *s);

#endif
