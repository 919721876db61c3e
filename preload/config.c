/* tnat64.conf, the C twin of src/lib/config.ts: the same grammar, the same errors on the same
 * lines, the same resolution (test/fixtures/config/ is run against both). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tnat64.h"
#include "../bpf/tnat64.h"

/* The largest configuration file read; a bigger one is an error, not a truncation. */
#define CONFIG_MAX_BYTES (1 << 20)

struct parser {
	struct config *cfg;
	config_error_fn on_error;
	void *ctx;
	int errors;
	struct config_path *open; /* the path block being read, if any */
	int default_line;
};

static void error_at(struct parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void error_at(struct parser *p, int line, const char *fmt, ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	p->errors++;
	if (p->on_error)
		p->on_error(p->ctx, line, message);
}

static uint32_t mask_of(unsigned length)
{
	return length == 0 ? 0 : 0xffffffffu << (32 - length);
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* a.b.c.d, a.b.c.d/len or a.b.c.d/m.m.m.m; NULL on success, else why not. */
static const char *parse_net(const char *value, struct ipv4_net *out)
{
	char text[64];
	struct in_addr address, mask;
	if (strlen(value) >= sizeof(text))
		return "not an IPv4 network (a.b.c.d/len)";
	strcpy(text, value);
	char *slash = strchr(text, '/');
	unsigned length = 32;

	if (slash) {
		*slash = '\0';
		const char *len_text = slash + 1;
		if (strchr(len_text, '/'))
			return "not an IPv4 network (a.b.c.d/len)";
		if (all_digits(len_text) && strlen(len_text) <= 2) {
			length = (unsigned)atoi(len_text);
			if (length > 32)
				return "an IPv4 prefix length is at most 32";
		} else if (strchr(len_text, '.')) {
			if (!ipv4_parse(len_text, &mask))
				return "netmask is not an IPv4 address";
			uint32_t m = ntohl(mask.s_addr);
			length = (unsigned)__builtin_popcount(m);
			if (m != mask_of(length))
				return "netmask is not contiguous (write it as a prefix length, e.g. /24)";
		} else {
			return "neither a prefix length nor a netmask after '/'";
		}
	}
	if (!ipv4_parse(text, &address))
		return "not an IPv4 address (a.b.c.d)";
	out->address = ntohl(address.s_addr);
	out->length = (uint8_t)length;
	if ((out->address & mask_of(length)) != out->address)
		return "host bits are set";
	return NULL;
}

static bool net_contains(const struct ipv4_net *net, uint32_t address)
{
	return (address & mask_of(net->length)) == net->address;
}

static bool push_net(struct ipv4_net **list, size_t *n, struct ipv4_net net)
{
	struct ipv4_net *grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (!grown)
		return false;
	grown[(*n)++] = net;
	*list = grown;
	return true;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool is_path_open(const char *s)
{
	if (strncmp(s, "path", 4) != 0)
		return false;
	s += 4;
	while (isspace((unsigned char)*s))
		s++;
	return strcmp(s, "{") == 0;
}

static void close_path(struct parser *p)
{
	struct config_path *path = p->open;
	bool complete = true;
	if (path->n_subnets == 0) {
		error_at(p, path->line, "path block has no subnet");
		complete = false;
	}
	if (path->prefix.length == 0) {
		error_at(p, path->line, "path block has no nat64_prefix");
		complete = false;
	}
	if (complete)
		p->cfg->n_paths++;
	else
		free(path->subnets);
	p->open = NULL;
}

static void open_path(struct parser *p, int line)
{
	struct config *cfg = p->cfg;
	struct config_path *grown = realloc(cfg->paths, (cfg->n_paths + 1) * sizeof(*grown));
	if (!grown) {
		error_at(p, line, "out of memory");
		return;
	}
	cfg->paths = grown;
	p->open = &grown[cfg->n_paths];
	memset(p->open, 0, sizeof(*p->open));
	p->open->line = line;
}

static void assign(struct parser *p, int line, const char *key, char *value)
{
	struct ipv4_net net;
	const char *why;

	if (strcmp(key, "nat64_prefix") == 0) {
		struct nat64_prefix prefix;
		enum prefix_error e = nat64_prefix_parse(value, &prefix);
		if (e != PREFIX_OK) {
			error_at(p, line, "'%s': %s", value, prefix_error_text(e));
		} else if (p->open && p->open->prefix.length) {
			error_at(p, line, "nat64_prefix is already set in this path block");
		} else if (p->open) {
			p->open->prefix = prefix;
		} else if (p->cfg->has_default) {
			error_at(p, line, "nat64_prefix is already set on line %d", p->default_line);
		} else {
			p->cfg->has_default = true;
			p->cfg->default_prefix = prefix;
			p->default_line = line;
		}
	} else if (strcmp(key, "local") == 0) {
		if (p->open) {
			error_at(p, line, "'local' is not allowed inside a path block (opened on line %d)", p->open->line);
		} else if ((why = parse_net(value, &net))) {
			error_at(p, line, "'%s': %s", value, why);
		} else {
			net.line = line;
			if (!push_net(&p->cfg->locals, &p->cfg->n_locals, net))
				error_at(p, line, "out of memory");
		}
	} else if (strcmp(key, "subnet") == 0) {
		if (!p->open) {
			error_at(p, line, "'subnet' belongs inside a 'path { }' block");
		} else if ((why = parse_net(value, &net))) {
			error_at(p, line, "'%s': %s", value, why);
		} else {
			net.line = line;
			if (!push_net(&p->open->subnets, &p->open->n_subnets, net))
				error_at(p, line, "out of memory");
		}
	} else {
		error_at(p, line, "unknown keyword '%s' (expected nat64_prefix, local, path or subnet)", key);
	}
}

static void parse_line(struct parser *p, int line, char *text)
{
	char *hash = strchr(text, '#');
	if (hash)
		*hash = '\0';
	char *s = trim(text);
	if (*s == '\0')
		return;
	if (is_path_open(s)) {
		if (p->open)
			error_at(p, line, "'path {' inside the path block opened on line %d", p->open->line);
		else
			open_path(p, line);
		return;
	}
	if (strcmp(s, "}") == 0) {
		if (p->open)
			close_path(p);
		else
			error_at(p, line, "'}' without an open path block");
		return;
	}
	char *key = s;
	if (!(isalpha((unsigned char)*key) || *key == '_')) {
		error_at(p, line, "expected 'keyword = value', 'path {' or '}'");
		return;
	}
	char *k = key;
	while (isalnum((unsigned char)*k) || *k == '_')
		k++;
	char *eq = k;
	while (isspace((unsigned char)*eq))
		eq++;
	if (*eq != '=') {
		error_at(p, line, "expected 'keyword = value', 'path {' or '}'");
		return;
	}
	*k = '\0';
	char *value = trim(eq + 1);
	if (*value == '\0') {
		error_at(p, line, "'%s' has no value", key);
		return;
	}
	for (char *c = value; *c; c++) {
		if (isspace((unsigned char)*c)) {
			error_at(p, line, "'%s' takes one value", key);
			return;
		}
	}
	assign(p, line, key, value);
}

/* A subnet given twice (in any paths) is an error on its later line, as in the TypeScript core. */
static void check_duplicate_subnets(struct parser *p)
{
	const struct config *cfg = p->cfg;
	for (size_t a = 0; a < cfg->n_paths; a++) {
		for (size_t i = 0; i < cfg->paths[a].n_subnets; i++) {
			const struct ipv4_net *net = &cfg->paths[a].subnets[i];
			for (size_t b = 0; b <= a; b++) {
				size_t end = b == a ? i : cfg->paths[b].n_subnets;
				for (size_t j = 0; j < end; j++) {
					const struct ipv4_net *other = &cfg->paths[b].subnets[j];
					if (other->address == net->address && other->length == net->length) {
						error_at(p, net->line, "subnet is already given on line %d", other->line);
						goto next;
					}
				}
			}
		next:;
		}
	}
}

int config_parse(const char *text, struct config *cfg, config_error_fn on_error, void *ctx)
{
	struct parser p = {.cfg = cfg, .on_error = on_error, .ctx = ctx};
	memset(cfg, 0, sizeof(*cfg));
	char *copy = strdup(text);
	if (!copy) {
		error_at(&p, 0, "out of memory");
		return p.errors;
	}
	int line = 1;
	for (char *s = copy, *nl; s; s = nl ? nl + 1 : NULL, line++) {
		nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		parse_line(&p, line, s);
	}
	if (p.open) {
		error_at(&p, p.open->line, "path block is not closed");
		free(p.open->subnets);
	}
	check_duplicate_subnets(&p);
	free(copy);
	return p.errors;
}

int config_load(const char *path, struct config *cfg, config_error_fn on_error, void *ctx)
{
	struct parser p = {.cfg = cfg, .on_error = on_error, .ctx = ctx};
	memset(cfg, 0, sizeof(*cfg));
	FILE *f = fopen(path, "re");
	if (!f) {
		error_at(&p, 0, "%s", errno == ENOENT ? "no such file" : strerror(errno));
		return p.errors;
	}
	char *text = malloc(CONFIG_MAX_BYTES + 1);
	size_t n = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, f) : 0;
	bool failed = !text || ferror(f);
	fclose(f);
	if (failed || n > CONFIG_MAX_BYTES) {
		error_at(&p, 0, "%s", failed ? "cannot be read" : "larger than 1 MiB");
		free(text);
		return p.errors;
	}
	text[n] = '\0';
	if (memchr(text, '\0', n)) {
		free(text);
		error_at(&p, 0, "is not a text file");
		return p.errors;
	}
	int errors = config_parse(text, cfg, on_error, ctx);
	free(text);
	return errors;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_paths; i++)
		free(cfg->paths[i].subnets);
	free(cfg->paths);
	free(cfg->locals);
	memset(cfg, 0, sizeof(*cfg));
}

/* Never through NAT64 (loopback, multicast, ...): the table bpf/tnat64.h keeps for every part. */
static const struct {
	uint32_t address;
	uint8_t length;
} always_ipv4[] = TNAT64_ALWAYS_IPV4_NETS;

static const struct nat64_prefix builtin_prefix = {.bytes = {0x00, 0x64, 0xff, 0x9b}, .length = 96};

struct rule config_resolve(const struct config *cfg, struct in_addr ipv4)
{
	uint32_t address = ntohl(ipv4.s_addr);
	for (size_t i = 0; i < sizeof(always_ipv4) / sizeof(always_ipv4[0]); i++)
		if ((address & (0xffffffffu << (32 - always_ipv4[i].length))) == always_ipv4[i].address)
			return (struct rule){.kind = RULE_LOCAL};
	for (size_t i = 0; i < cfg->n_locals; i++)
		if (net_contains(&cfg->locals[i], address))
			return (struct rule){.kind = RULE_LOCAL};

	const struct nat64_prefix *prefix = NULL;
	int best = -1;
	for (size_t i = 0; i < cfg->n_paths; i++) {
		for (size_t j = 0; j < cfg->paths[i].n_subnets; j++) {
			const struct ipv4_net *net = &cfg->paths[i].subnets[j];
			if (net_contains(net, address) && net->length > best) {
				best = net->length;
				prefix = &cfg->paths[i].prefix;
			}
		}
	}
	if (!prefix)
		prefix = cfg->has_default ? &cfg->default_prefix : &builtin_prefix;
	if (nat64_is_well_known(prefix) && ipv4_is_non_global(ipv4))
		return (struct rule){.kind = RULE_NONE, .prefix = prefix};
	return (struct rule){.kind = RULE_NAT64, .prefix = prefix};
}
