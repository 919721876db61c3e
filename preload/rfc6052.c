/* IPv4-embedded IPv6 addresses (RFC 6052), the C twin of src/lib/rfc6052.ts: the same vectors
 * (test/vectors/rfc6052.txt) are run against both. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "tnat64.h"

static const uint8_t well_known[16] = TNAT64_WELL_KNOWN_PREFIX;

bool ipv4_parse(const char *text, struct in_addr *out)
{
	/* inet_pton takes dotted-decimal only and refuses leading zeros, as the TypeScript core does. */
	return inet_pton(AF_INET, text, out) == 1;
}

static bool host_bits_zero(const uint8_t *bytes, unsigned length)
{
	static const uint8_t zero[16];
	uint8_t masked[16];
	memcpy(masked, bytes, 16);
	memset(masked, 0, length / 8);
	return memcmp(masked, zero, 16) == 0;
}

static bool valid_length(long length)
{
	return length == 32 || length == 40 || length == 48 || length == 56 || length == 64 || length == 96;
}

enum prefix_error nat64_prefix_parse(const char *text, struct nat64_prefix *out)
{
	char address[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t address_len = slash ? (size_t)(slash - text) : strlen(text);
	long length = 96; /* the original tnat64.conf wrote prefixes without a length */

	if (slash) {
		const char *digits = slash + 1;
		size_t n = strlen(digits);
		if (n == 0 || n > 3)
			return PREFIX_SYNTAX;
		for (size_t i = 0; i < n; i++)
			if (!isdigit((unsigned char)digits[i]))
				return PREFIX_SYNTAX;
		length = strtol(digits, NULL, 10);
	}
	if (!valid_length(length))
		return PREFIX_LENGTH;
	if (address_len >= sizeof(address))
		return PREFIX_SYNTAX;
	memcpy(address, text, address_len);
	address[address_len] = '\0';
	if (inet_pton(AF_INET6, address, out->bytes) != 1)
		return PREFIX_SYNTAX;
	out->length = (uint8_t)length;
	if (!host_bits_zero(out->bytes, out->length))
		return PREFIX_HOST_BITS;
	if (out->bytes[U_OCTET] != 0)
		return PREFIX_U_OCTET;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(out->bytes, mapped, sizeof(mapped)) == 0)
		return PREFIX_MAPPED;
	if (out->bytes[0] == 0xff)
		return PREFIX_MULTICAST;
	static const uint8_t zero[8];
	if (memcmp(out->bytes, zero, sizeof(zero)) == 0 || (out->bytes[0] == 0xfe && (out->bytes[1] & 0xc0) == 0x80))
		return PREFIX_NOT_GLOBAL;
	return PREFIX_OK;
}

const char *prefix_error_code(enum prefix_error error)
{
	static const char *const codes[] = {
		[PREFIX_OK] = "ok",
		[PREFIX_SYNTAX] = "syntax",
		[PREFIX_LENGTH] = "length",
		[PREFIX_HOST_BITS] = "host-bits",
		[PREFIX_U_OCTET] = "u-octet",
		[PREFIX_MAPPED] = "mapped",
		[PREFIX_MULTICAST] = "multicast",
		[PREFIX_NOT_GLOBAL] = "not-global",
	};
	return codes[error];
}

const char *prefix_error_text(enum prefix_error error)
{
	static const char *const texts[] = {
		[PREFIX_OK] = "valid",
		[PREFIX_SYNTAX] = "not an IPv6 prefix (address/length)",
		[PREFIX_LENGTH] = "prefix length is not one of /32, /40, /48, /56, /64, /96 (RFC 6052 §2.2)",
		[PREFIX_HOST_BITS] = "bits beyond the prefix length are set",
		[PREFIX_U_OCTET] = "bits 64-71 (the u-octet) must be zero (RFC 6052 §2.2)",
		[PREFIX_MAPPED] = "::ffff:0:0/96 holds IPv4-mapped addresses, not a NAT64 prefix",
		[PREFIX_MULTICAST] = "a multicast prefix (ff00::/8) cannot be a NAT64 prefix",
		[PREFIX_NOT_GLOBAL] = "::/64 (unspecified, loopback, IPv4-compatible) and link-local fe80::/10 cannot be NAT64 prefixes",
	};
	return texts[error];
}

/* The byte offsets that carry the IPv4 address for each prefix length: right after the prefix,
 * skipping the u-octet (RFC 6052 §2.2, figure 1). */
const uint8_t *ipv4_offsets(unsigned length)
{
	static const uint8_t offsets[6][4] = {
		{4, 5, 6, 7},     /* /32 */
		{5, 6, 7, 9},     /* /40 */
		{6, 7, 9, 10},    /* /48 */
		{7, 9, 10, 11},   /* /56 */
		{9, 10, 11, 12},  /* /64 */
		{12, 13, 14, 15}, /* /96 */
	};
	return offsets[length == 96 ? 5 : (length - 32) / 8];
}

void nat64_synthesize_any(const struct nat64_prefix *prefix, struct in_addr ipv4, struct in6_addr *out)
{
	const uint8_t *offsets = ipv4_offsets(prefix->length);
	const uint8_t *v4 = (const uint8_t *)&ipv4.s_addr;
	memcpy(out->s6_addr, prefix->bytes, 16); /* bits past the prefix are zero: checked at parse */
	for (int i = 0; i < 4; i++)
		out->s6_addr[offsets[i]] = v4[i];
}

bool nat64_is_well_known(const struct nat64_prefix *prefix)
{
	return prefix->length == TNAT64_WELL_KNOWN_LENGTH && half(prefix->bytes) == half(well_known) &&
	       half(prefix->bytes + 8) == half(well_known + 8);
}

/* Special-purpose ranges that are not globally reachable (RFC 6890); the same list as
 * src/lib/ipv4net.ts, checked by the shared config fixtures. */
static const struct {
	uint32_t address;
	uint8_t length;
} non_global[] = {
	{0x00000000, 8},  /* 0.0.0.0/8 */
	{0x0a000000, 8},  /* 10.0.0.0/8 */
	{0x64400000, 10}, /* 100.64.0.0/10 */
	{0x7f000000, 8},  /* 127.0.0.0/8 */
	{0xa9fe0000, 16}, /* 169.254.0.0/16 */
	{0xac100000, 12}, /* 172.16.0.0/12 */
	{0xc0000000, 24}, /* 192.0.0.0/24 */
	{0xc0000200, 24}, /* 192.0.2.0/24 */
	{0xc0586300, 24}, /* 192.88.99.0/24 */
	{0xc0a80000, 16}, /* 192.168.0.0/16 */
	{0xc6120000, 15}, /* 198.18.0.0/15 */
	{0xc6336400, 24}, /* 198.51.100.0/24 */
	{0xcb007100, 24}, /* 203.0.113.0/24 */
	{0xe0000000, 3},  /* 224.0.0.0/3 */
};

bool ipv4_is_non_global(struct in_addr ipv4)
{
	uint32_t address = ntohl(ipv4.s_addr);
	for (size_t i = 0; i < sizeof(non_global) / sizeof(non_global[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - non_global[i].length);
		if ((address & mask) == non_global[i].address)
			return true;
	}
	return false;
}
