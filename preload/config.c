/* tnat64.conf, the C twin of src/lib/config.ts: the same grammar, the same error messages on
 * the same lines, the same resolution (test/fixtures/config/ is run against both). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "defaults.h"
#include "tnat64.h"

struct parser {
	struct config *cfg;
	config_error_fn on_error;
	void *ctx;
	int errors;
	struct config_path *open; /* the path block being read, if any */
	int default_line;
	int path_prefix_line; /* where the open path block set its nat64_prefix */
};

static void error_at(struct parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void error_at(struct parser *p, int line, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	p->errors++;
	if (p->on_error)
		p->on_error(p->ctx, line, message);
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

static bool fail(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes why a value was refused; false, for `return fail(...)`. */
static bool fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return false;
}

/* a.b.c.d, a.b.c.d/len or a.b.c.d/m.m.m.m, checked in the order and the words of parseIpv4Net
 * (src/lib/ipv4net.ts); false with the reason in why[]. */
static bool parse_net(const char *value, struct ipv4_net *out, char *why, size_t size)
{
	const char *slash = strchr(value, '/');
	const char *len_text = slash ? slash + 1 : NULL;
	int address_len = slash ? (int)(slash - value) : (int)strlen(value);
	char address_text[INET_ADDRSTRLEN];
	struct in_addr address, mask;
	unsigned length = 32;

	if (len_text && strchr(len_text, '/'))
		return fail(why, size, "'%s' is not an IPv4 network (a.b.c.d/len)", value);
	snprintf(address_text, sizeof(address_text), "%.*s", address_len, value);
	if (address_len >= (int)sizeof(address_text) || !ipv4_parse(address_text, &address))
		return fail(why, size, "'%.*s' is not an IPv4 address (a.b.c.d)", address_len, value);
	if (len_text && all_digits(len_text) && strlen(len_text) <= 2) {
		length = (unsigned)atoi(len_text);
		if (length > 32)
			return fail(why, size, "'%s': an IPv4 prefix length is at most 32", value);
	} else if (len_text && strchr(len_text, '.')) {
		if (!ipv4_parse(len_text, &mask))
			return fail(why, size, "'%s': netmask '%s' is not an IPv4 address (a.b.c.d)", value, len_text);
		uint32_t m = ntohl(mask.s_addr);
		length = (unsigned)__builtin_popcount(m);
		if (m != ipv4_mask(length))
			return fail(why, size, "'%s': netmask %s is not contiguous (write it as a prefix length, e.g. /24)",
				    value, len_text);
	} else if (len_text) {
		return fail(why, size, "'%s': '%s' is neither a prefix length nor a netmask", value, len_text);
	}
	out->address = ntohl(address.s_addr);
	out->length = (uint8_t)length;
	if ((out->address & ipv4_mask(length)) != out->address) {
		struct in_addr network = {.s_addr = htonl(out->address & ipv4_mask(length))};
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &network, text, sizeof(text));
		return fail(why, size, "'%s': host bits are set (did you mean %s/%u?)", value, text, length);
	}
	return true;
}

/* RFC 5952 text (the first longest run of two or more zero words as ::), as the CLI prints
 * addresses; unlike inet_ntop, never with a dotted IPv4 tail. */
static void ipv6_text(const uint8_t bytes[16], char out[INET6_ADDRSTRLEN])
{
	int best = -1, best_len = 1, run = 0;
	for (int i = 0; i < 8; i++) {
		run = bytes[2 * i] || bytes[2 * i + 1] ? 0 : run + 1;
		if (run > best_len) {
			best_len = run;
			best = i - run + 1;
		}
	}
	char *o = out;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			o += sprintf(o, "::");
			i += best_len - 1;
			continue;
		}
		o += sprintf(o, "%s%x", o > out && o[-1] != ':' ? ":" : "", bytes[2 * i] << 8 | bytes[2 * i + 1]);
	}
	*o = '\0';
}

void config_prefix_message(const char *text, enum prefix_error error, char *out, size_t size)
{
	const char *slash = strchr(text, '/');
	const char *len_text = slash ? slash + 1 : "96";
	int address_len = slash ? (int)(slash - text) : (int)strlen(text);
	struct in6_addr address;
	char address_text[INET6_ADDRSTRLEN + 1], network[INET6_ADDRSTRLEN];

	if (error == PREFIX_SYNTAX && !(all_digits(len_text) && strlen(len_text) <= 3)) {
		snprintf(out, size, "'%s': prefix length '%s' is not a number", text, len_text);
	} else if (error == PREFIX_SYNTAX) {
		snprintf(out, size, "'%s': '%.*s' is not an IPv6 address", text, address_len, text);
	} else if (error == PREFIX_HOST_BITS) {
		/* nat64_prefix_parse got this far: the address and the length are well formed. */
		unsigned length = (unsigned)atoi(len_text);
		snprintf(address_text, sizeof(address_text), "%.*s", address_len, text);
		inet_pton(AF_INET6, address_text, &address);
		memset(&address.s6_addr[length / 8], 0, 16 - length / 8);
		ipv6_text(address.s6_addr, network);
		snprintf(out, size, "'%s': %s (did you mean %s/%u?)", text, prefix_error_text(error), network, length);
	} else {
		snprintf(out, size, "'%s': %s", text, prefix_error_text(error));
	}
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
	char why[512];

	if (strcmp(key, "nat64_prefix") == 0) {
		struct nat64_prefix prefix;
		enum prefix_error e = nat64_prefix_parse(value, &prefix);
		if (e != PREFIX_OK) {
			config_prefix_message(value, e, why, sizeof(why));
			error_at(p, line, "%s", why);
		} else if (p->open && p->open->prefix.length) {
			error_at(p, line, "nat64_prefix is already set on line %d", p->path_prefix_line);
		} else if (p->open) {
			p->open->prefix = prefix;
			p->path_prefix_line = line;
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
		} else if (!parse_net(value, &net, why, sizeof(why))) {
			error_at(p, line, "%s", why);
		} else {
			net.line = line;
			if (!push_net(&p->cfg->locals, &p->cfg->n_locals, net))
				error_at(p, line, "out of memory");
		}
	} else if (strcmp(key, "subnet") == 0) {
		if (!p->open) {
			error_at(p, line, "'subnet' belongs inside a 'path { }' block");
		} else if (!parse_net(value, &net, why, sizeof(why))) {
			error_at(p, line, "%s", why);
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
	char *key = s, *k = s;
	if (isalpha((unsigned char)*k) || *k == '_')
		while (isalnum((unsigned char)*k) || *k == '_')
			k++;
	char *eq = k;
	while (isspace((unsigned char)*eq))
		eq++;
	if (k == key || *eq != '=') {
		error_at(p, line, "expected 'keyword = value', 'path {' or '}', found '%s'", s);
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
			error_at(p, line, "'%s' takes one value, found '%s'", key, value);
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
						struct in_addr address = {.s_addr = htonl(net->address)};
						char text[INET_ADDRSTRLEN];
						inet_ntop(AF_INET, &address, text, sizeof(text));
						error_at(p, net->line, "subnet %s/%u is already given on line %d", text,
							 net->length, other->line);
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

/* Why a file cannot be read, in readConfigFile's words (src/lib/config.ts). */
static const char *unreadable(int error)
{
	switch (error) {
	case ENOENT:
		return "no such file";
	case EISDIR:
		return "is a directory";
	case EACCES:
		return "permission denied";
	default:
		return strerror(error);
	}
}

int config_load(const char *path, struct config *cfg, config_error_fn on_error, void *ctx)
{
	struct parser p = {.cfg = cfg, .on_error = on_error, .ctx = ctx};
	memset(cfg, 0, sizeof(*cfg));
	FILE *f = fopen(path, "re");
	if (!f) {
		error_at(&p, 0, "%s", unreadable(errno));
		return p.errors;
	}
	char *text = malloc(TNAT64_CONFIG_MAX_BYTES + 1);
	size_t n = text ? fread(text, 1, TNAT64_CONFIG_MAX_BYTES + 1, f) : 0;
	int error = !text ? ENOMEM : ferror(f) ? errno : 0;
	fclose(f);
	if (error || n > TNAT64_CONFIG_MAX_BYTES) {
		error_at(&p, 0, "%s", error ? unreadable(error) : "larger than 16 MiB");
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

const struct nat64_prefix config_builtin_prefix = {.bytes = TNAT64_WELL_KNOWN_PREFIX,
						    .length = TNAT64_WELL_KNOWN_LENGTH};

bool config_extract_paths(const struct config *cfg, const struct in6_addr *ipv6, struct in_addr *out)
{
	const struct nat64_prefix *fallback = config_fallback_prefix(cfg);
	struct in_addr ipv4;
	int best = -1;
	if (nat64_extract(fallback, ipv6, &ipv4)) {
		best = fallback->length;
		*out = ipv4;
	}
	for (size_t i = 0; i < cfg->n_paths; i++) {
		const struct nat64_prefix *prefix = &cfg->paths[i].prefix;
		if (prefix->length > best && nat64_extract(prefix, ipv6, &ipv4)) {
			best = prefix->length;
			*out = ipv4;
		}
	}
	return best >= 0;
}

const char *config_file_in_force(const char *explicit_file)
{
	if (explicit_file)
		return explicit_file;
	/* secure_getenv: a set-id or capability-raised program never takes its file from its caller. */
	const char *named = secure_getenv(TNAT64_ENV_CONF_FILE);
	if (named && *named)
		return named;
	return access(TNAT64_DEFAULT_CONFIG_FILE, F_OK) == 0 ? TNAT64_DEFAULT_CONFIG_FILE : NULL;
}

bool config_is_ipv4_source(const struct config *cfg, const struct in6_addr *source)
{
	struct in_addr ignored;
	return IN6_IS_ADDR_V4MAPPED(source) || config_extract(cfg, source, &ignored);
}

void config_ipv4_view(const struct config *cfg, const struct sockaddr_in6 *real, struct sockaddr_in *out)
{
	const struct in6_addr *a = &real->sin6_addr;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = real->sin6_port;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&out->sin_addr.s_addr, &a->s6_addr[12], 4);
		return;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return;
	if (config_extract(cfg, a, &out->sin_addr))
		return;
	inet_pton(AF_INET, TNAT64_STANDIN_IPV4, &out->sin_addr);
}
