/* Runs the shared vectors against the C core of libtnat64 (rfc6052.c, config.c):
 *   vectors rfc6052 test/vectors/rfc6052.txt
 *   vectors config  test/fixtures/config/NAME.conf ...   (each with its NAME.expect)
 * Prints one line per failure and ends with 'N passed, M failed'; exits 1 on any failure. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../preload/tnat64.h"

static int passed, failed;

static void check(bool ok, const char *what, const char *detail)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		printf("FAIL %s: %s\n", what, detail);
	}
}

/* Splits a line into blank-separated fields, dropping a '#' comment; returns the field count. */
static int fields(char *line, char *out[], int max)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	int n = 0;
	for (char *tok = strtok(line, " \t\r\n"); tok && n < max; tok = strtok(NULL, " \t\r\n"))
		out[n++] = tok;
	return n;
}

static void rfc6052(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		exit(2);
	}
	char line[512], copy[512], detail[600];
	while (fgets(line, sizeof(line), f)) {
		snprintf(copy, sizeof(copy), "%s", line);
		copy[strcspn(copy, "\n")] = '\0';
		char *f_[5];
		int n = fields(line, f_, 5);
		if (n == 0)
			continue;
		struct nat64_prefix prefix;
		enum prefix_error e = nat64_prefix_parse(f_[1], &prefix);
		if (strcmp(f_[0], "embed") == 0 && n == 4) {
			struct in_addr v4, back;
			struct in6_addr want, got;
			if (e != PREFIX_OK || !ipv4_parse(f_[2], &v4) || inet_pton(AF_INET6, f_[3], &want) != 1) {
				check(false, copy, "cannot parse the vector");
				continue;
			}
			nat64_synthesize(&prefix, v4, &got);
			char text[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, &got, text, sizeof(text));
			snprintf(detail, sizeof(detail), "synthesized %s", text);
			check(memcmp(&got, &want, 16) == 0, copy, detail);
			check(nat64_extract(&prefix, &want, &back) && back.s_addr == v4.s_addr, copy, "extraction");
		} else if (strcmp(f_[0], "reject") == 0 && n == 3) {
			snprintf(detail, sizeof(detail), "got %s", prefix_error_code(e));
			check(strcmp(prefix_error_code(e), f_[2]) == 0, copy, detail);
		} else {
			check(false, copy, "malformed vector line");
		}
	}
	fclose(f);
}

struct lines {
	int line[256];
	int n;
};

static void collect(void *ctx, int line, const char *message)
{
	struct lines *l = ctx;
	(void)message;
	if (l->n > 0 && l->line[l->n - 1] == line)
		return;
	for (int i = 0; i < l->n; i++)
		if (l->line[i] == line)
			return;
	if (l->n < 256)
		l->line[l->n++] = line;
}

static int by_number(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void config_fixture(const char *conf)
{
	char expect_path[1024];
	snprintf(expect_path, sizeof(expect_path), "%.*s.expect", (int)(strlen(conf) - 5), conf);
	FILE *f = fopen(expect_path, "r");
	if (!f) {
		perror(expect_path);
		exit(2);
	}
	struct config cfg;
	struct lines got = {0}, want = {0};
	config_load(conf, &cfg, collect, &got);
	qsort(got.line, (size_t)got.n, sizeof(int), by_number);

	char line[512], copy[1600], detail[1700];
	while (fgets(line, sizeof(line), f)) {
		snprintf(copy, sizeof(copy), "%s: %s", conf, line);
		copy[strcspn(copy, "\n")] = '\0';
		char *f_[4];
		int n = fields(line, f_, 4);
		if (n == 0)
			continue;
		if (strcmp(f_[0], "error") == 0) {
			want.line[want.n++] = atoi(f_[1]);
			continue;
		}
		struct in_addr v4;
		if (!ipv4_parse(f_[0], &v4)) {
			check(false, copy, "malformed fixture line");
			continue;
		}
		struct rule rule = config_resolve(&cfg, v4);
		const char *method = rule.kind == RULE_LOCAL ? "local" : rule.kind == RULE_NAT64 ? "nat64" : "none";
		char prefix[INET6_ADDRSTRLEN + 4] = "";
		if (rule.kind == RULE_NAT64) {
			inet_ntop(AF_INET6, rule.prefix->bytes, prefix, sizeof(prefix));
			snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), "/%u", rule.prefix->length);
		}
		snprintf(detail, sizeof(detail), "got %s %s", method, prefix);
		check(strcmp(method, f_[1]) == 0 && strcmp(prefix, n > 2 ? f_[2] : "") == 0, copy, detail);
	}
	fclose(f);
	bool same = got.n == want.n && memcmp(got.line, want.line, (size_t)got.n * sizeof(int)) == 0;
	char lines[600] = "";
	for (int i = 0; i < got.n; i++)
		snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines), " %d", got.line[i]);
	snprintf(detail, sizeof(detail), "errors on lines%s", got.n ? lines : " (none)");
	check(same, conf, detail);
	config_free(&cfg);
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "rfc6052") != 0 && strcmp(argv[1], "config") != 0)) {
		fprintf(stderr, "usage: %s rfc6052 FILE | config FILE.conf...\n", argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[1], "rfc6052") == 0)
			rfc6052(argv[i]);
		else
			config_fixture(argv[i]);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
