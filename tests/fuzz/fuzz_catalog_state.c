/* fuzz_catalog_state.c: libFuzzer target for portolan-catalog's -data-dir state file loader
 * (catalog/persist.c), the other input the catalog reads from outside.
 *
 * The input is the JSON body of a state file; the harness writes the header with the body's
 * correct SHA-256 around it (otherwise nearly every mutation would stop at the checksum), to a
 * directory on /dev/shm, and loads it into a fresh store. When the load succeeds:
 *   - the loaded state is rendered through the API (agent, catalog, health, KV reads): every
 *     answer needs a real status and no X-Consul-Index of 0 (reference section 9);
 *   - the state is saved again and that file must load (a catalog that accepted a state file
 *     and then wrote its own must be able to restart from it).
 * The seeds in tests/fuzz/corpus-fuzz_catalog_state/ are bodies of real state files.
 *
 * Built and run by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "persist.h"
#include "store.h"

static char dir_in[64], dir_out[64];

static int64_t fuzz_now_ms(void) { return 1700000000000LL; }

static catalog_store_t *fresh_store(void)
{
    return store_new("fuzz-node", "0b5a1c6e-0000-4000-8000-000000000001", "dc1", "127.0.0.1");
}

static void write_state(const uint8_t *body, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(body, len, md, &n, EVP_sha256(), NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/state.json", dir_in);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs("portolan-catalog-state v1 sha256=", f);
    for (unsigned i = 0; i < n; i++) fprintf(f, "%02x", md[i]);
    fputc('\n', f);
    fwrite(body, 1, len, f);
    fputc('\n', f);
    fclose(f);
}

static void get(catalog_api_t *api, const char *path, const char *param)
{
    api_param_t p = { param, "" };
    api_request_t req = { .method = "GET", .path = path, .params = param ? &p : NULL, .nparams = param ? 1 : 0 };
    api_response_t resp;
    catalog_api_handle(api, &req, 0, &resp);
    if (resp.status < 100 || resp.status > 599) __builtin_trap();
    if (resp.has_index && resp.index == 0) __builtin_trap(); /* never index 0 */
    api_response_clear(&resp);
}

static void remove_dirs(void)
{
    const char *dirs[] = { dir_in, dir_out }, *files[] = { "state.json", "state.json.tmp" };
    char path[128];
    for (int d = 0; d < 2; d++) {
        for (int f = 0; f < 2; f++) {
            snprintf(path, sizeof path, "%s/%s", dirs[d], files[f]);
            unlink(path);
        }
        rmdir(dirs[d]);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz", LOG_OFF, 0);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir_in, sizeof dir_in, "%s/portolan-fuzz-in-XXXXXX", base);
    snprintf(dir_out, sizeof dir_out, "%s/portolan-fuzz-out-XXXXXX", base);
    if (!mkdtemp(dir_in) || !mkdtemp(dir_out)) abort();
    atexit(remove_dirs);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_state(data, size);
    char err[1024];
    catalog_store_t *s = fresh_store();
    int rc = persist_load(s, dir_in, err, sizeof err);
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "load: %d %s\n", rc, rc == 1 ? "" : err);
    if (rc == 1) {
        catalog_api_t api = { .store = s, .leader = "127.0.0.1:8300", .version = "1.15.0", .now_ms = fuzz_now_ms };
        get(&api, "/v1/agent/services", NULL);
        get(&api, "/v1/agent/checks", NULL);
        get(&api, "/v1/catalog/services", NULL);
        get(&api, "/v1/catalog/nodes", NULL);
        get(&api, "/v1/health/state/any", NULL);
        get(&api, "/v1/kv/", "recurse");
        get(&api, "/v1/kv/", "keys");
        size_t n = 0;
        cat_service_t **all = store_all_services(s, &n);
        for (size_t i = 0; i < n && i < 4; i++) {
            char path[1200];
            snprintf(path, sizeof path, "/v1/health/service/%s", all[i]->name);
            get(&api, path, NULL);
            snprintf(path, sizeof path, "/v1/catalog/service/%s", all[i]->name);
            get(&api, path, NULL);
        }
        free(all);
        if (persist_save(s, dir_out, err, sizeof err) != 0) {
            fprintf(stderr, "save of a loaded state failed: %s\n", err);
            __builtin_trap();
        }
        catalog_store_t *again = fresh_store();
        if (persist_load(again, dir_out, err, sizeof err) != 1) {
            fprintf(stderr, "a state the catalog saved does not load again: %s\n", err);
            __builtin_trap();
        }
        store_free(again);
    }
    store_free(s);
    return 0;
}
