/* tests/template/fuzz_template.c: libFuzzer target for the template engine: the input is a
 * template; it is parsed and, when valid, rendered against a small fixed snapshot with tight
 * limits. Crashes, sanitizer reports and leaks are the findings.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib -Itemplater \
 *     templater/template_*.c tests/template/fuzz_template.c -ljansson -lcrypto -o fuzz_template
 *   ./fuzz_template -max_total_time=60 tests/template/cases
 * (template_store.c needs lib/consul_client.c; leave it out or add the lib sources.) */
#include "template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char snapshot[] =
	"{\"nodes\":{\"n1\":\"10.0.0.1\"},"
	"\"services\":[{\"Node\":\"n1\",\"Port\":80,\"ID\":\"a\",\"Name\":\"web\",\"Tags\":[\"rest\",\"x\"],\"Meta\":{\"k\":\"v\"}},"
	"{\"Node\":\"n1\",\"Address\":\"1.2.3.4\",\"Port\":81,\"ID\":\"b\",\"Name\":\"hello/v1\",\"Tags\":[\"rest\"],\"Status\":\"critical\"}],"
	"\"kv\":{\"a/b\":\"1\",\"a/c/d\":\"2\",\"k\":\"v\"},\"env\":{\"HOME\":\"/root\"},\"now\":1}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static template_snapshot *snap;
	char *err = NULL;
	if (!snap) snap = template_snapshot_parse(snapshot, sizeof snapshot - 1, &err);
	if (!snap) abort();
	template_t *t = template_new("fuzz", (const char *)data, size, &err);
	if (!t) { free(err); return 0; }
	template_provider p;
	template_snapshot_provider(snap, &p);
	template_options o = { .max_output = 1 << 20, .max_steps = 200000, .now = 1 };
	template_result r;
	template_render(t, &p, &o, &r);
	template_result_free(&r);
	template_free(t);
	return 0;
}
