/* libFuzzer target for the configuration parser of libtnat64 (preload/config.c): whatever the text,
 * no crash, no leak, no undefined behaviour (ASan, UBSan), every error a message; what parses
 * resolves destinations, and a NAT64 address made for one reads back through its own prefix.
 *   fuzz-config -max_total_time=20 CORPUS test/fixtures/config     explore, seeded by the fixtures
 *   fuzz-config test/fixtures/fuzz-config/FILE...                  replay what it once found */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../../preload/tnat64.h"

static void on_error(void *ctx, int line, const char *message)
{
	int *lines = ctx;
	if (line < 0 || line > *lines || message[0] == '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* config_load refuses a file with a NUL in it; the parser sees text only. */
	if (memchr(data, '\0', size))
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	struct config cfg;
	config_parse(text, &cfg, on_error, &lines);
	free(text);

	/* Fixed probes, and four bytes of the input as one more. */
	uint32_t probes[] = {0x08080808, 0x0a010203, 0x7f000001, 0xc0a80101, 0xc6336407, 0, 0xffffffff, 0};
	if (size >= 4)
		memcpy(&probes[7], data + size - 4, 4);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct in_addr ipv4 = {.s_addr = htonl(probes[i])}, back;
		struct rule rule = config_resolve(&cfg, ipv4);
		if (rule.kind == RULE_LOCAL)
			continue;
		struct in6_addr ipv6;
		nat64_synthesize(rule.prefix, ipv4, &ipv6);
		if (!nat64_extract(rule.prefix, &ipv6, &back) || back.s_addr != ipv4.s_addr)
			abort();
		config_extract(&cfg, &ipv6, &back);
	}
	config_free(&cfg);
	return 0;
}
