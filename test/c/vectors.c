/* Runs the shared vectors against the C core of libtnat64 (rfc6052.c, config.c):
 *   vectors rfc6052 test/vectors/rfc6052.txt
 *   vectors config  test/fixtures/config/NAME.conf ...   (each with its NAME.expect: the error
 *                   messages, the rule of each destination, the IPv4 address of each NAT64 one)
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

/* The errors of one file, as reported; sorted by line (stably) as the TypeScript core lists them. */
struct error {
	int line;
	char message[512];
};

struct errors {
	struct error e[256];
	int n;
};

static void collect(void *ctx, int line, const char *message)
{
	struct errors *l = ctx;
	if (l->n < 256) {
		l->e[l->n].line = line;
		snprintf(l->e[l->n].message, sizeof(l->e[l->n].message), "%s", message);
		l->n++;
	}
}

static void sort_by_line(struct errors *l)
{
	for (int i = 1; i < l->n; i++) {
		struct error e = l->e[i];
		int j = i;
		for (; j > 0 && l->e[j - 1].line > e.line; j--)
			l->e[j] = l->e[j - 1];
		l->e[j] = e;
	}
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
	static struct errors got, want;
	struct config cfg;
	got.n = want.n = 0;
	config_load(conf, &cfg, collect, &got);
	sort_by_line(&got);

	char line[1024], copy[1600], detail[1700];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(copy, sizeof(copy), "%s: %s", conf, line);
		/* `error LINE MESSAGE`: the message runs to the end of the line. */
		int line_no, at;
		if (sscanf(line, "error %d %n", &line_no, &at) == 1 && want.n < 256) {
			want.e[want.n].line = line_no;
			snprintf(want.e[want.n].message, sizeof(want.e[want.n].message), "%s", line + at);
			want.n++;
			continue;
		}
		char *f_[4];
		int n = fields(line, f_, 4);
		if (n == 0)
			continue;
		if (strcmp(f_[0], "extract") == 0 && n == 3) {
			struct in6_addr ipv6;
			struct in_addr v4, want_v4;
			bool none = strcmp(f_[2], "none") == 0;
			if (inet_pton(AF_INET6, f_[1], &ipv6) != 1 || (!none && !ipv4_parse(f_[2], &want_v4))) {
				check(false, copy, "malformed fixture line");
				continue;
			}
			bool found = config_extract(&cfg, &ipv6, &v4);
			char text[INET_ADDRSTRLEN] = "none";
			if (found)
				inet_ntop(AF_INET, &v4, text, sizeof(text));
			snprintf(detail, sizeof(detail), "got %s", text);
			check(none ? !found : found && v4.s_addr == want_v4.s_addr, copy, detail);
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
	for (int i = 0; i < got.n || i < want.n; i++) {
		const struct error *g = i < got.n ? &got.e[i] : NULL, *w = i < want.n ? &want.e[i] : NULL;
		snprintf(copy, sizeof(copy), "%s: error %d: %s", conf, w ? w->line : 0, w ? w->message : "(none expected)");
		snprintf(detail, sizeof(detail), "got %d: %s", g ? g->line : 0, g ? g->message : "(none)");
		check(g && w && g->line == w->line && strcmp(g->message, w->message) == 0, copy, detail);
	}
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
