/* The PREF64 option of a router advertisement (RFC 8781 §4), the one contract for its layout:
 *
 *   octet 0      type 38
 *   octet 1      length 2, in units of 8 octets: the option is 16 bytes
 *   octets 2-3   Scaled Lifetime (13 bits, units of 8 s) << 3 | PLC (3 bits), network order
 *   octets 4-15  the highest 96 bits of the NAT64 prefix
 *
 * Every field and rule below is RFC 8781's unless said otherwise. */
#ifndef TNAT64_PREF64_H
#define TNAT64_PREF64_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define PREF64_TYPE 38
#define PREF64_LENGTH 2 /* §4: senders set 2, receivers ignore the option otherwise */
#define PREF64_SIZE (PREF64_LENGTH * 8)
#define PREF64_PREFIX_BYTES 12 /* §4: bits 0-95; a /96 needs no more */
/* §4.1: a lifetime is sent rounded up to a multiple of 8 below 65536, so 65528 s at most. */
#define PREF64_MAX_LIFETIME 65528

/* §4: the Prefix Length Code of each NAT64 prefix length (RFC 6052 §2.2 allows no others); codes 6
 * and 7 are invalid and make receivers ignore the option. */
static const uint8_t pref64_plc_length[6] = {96, 64, 56, 48, 40, 32};

struct pref64 {
	uint8_t prefix[16]; /* the last 4 bytes always zero */
	uint8_t length;
	uint32_t lifetime; /* seconds, a multiple of 8; §4: how long the prefix may be used, so 0 withdraws it */
};

/* The code of a prefix length, or -1 if it has none. */
static inline int pref64_plc(unsigned length)
{
	for (int plc = 0; plc < 6; plc++)
		if (pref64_plc_length[plc] == length)
			return plc;
	return -1;
}

/* §4.1: round up to a multiple of 8 (so a lifetime of 1-7 s is not sent as 0, which would withdraw
 * the prefix), at most 65528, then scale. */
static inline uint16_t pref64_scaled_lifetime(uint32_t seconds)
{
	if (seconds > PREF64_MAX_LIFETIME)
		seconds = PREF64_MAX_LIFETIME;
	return (uint16_t)((seconds + 7) / 8);
}

/* The 16 option bytes of a prefix; false if its length has no code. Bits beyond the length are
 * copied as they are: callers pass a valid RFC 6052 prefix. */
static inline bool pref64_encode(const uint8_t prefix[16], unsigned length, uint32_t lifetime,
				 uint8_t out[PREF64_SIZE])
{
	int plc = pref64_plc(length);
	if (plc < 0)
		return false;
	uint16_t field = (uint16_t)(pref64_scaled_lifetime(lifetime) << 3 | plc);
	out[0] = PREF64_TYPE;
	out[1] = PREF64_LENGTH;
	out[2] = field >> 8;
	out[3] = field & 0xff;
	memcpy(out + 4, prefix, PREF64_PREFIX_BYTES);
	return true;
}

/* The prefix of an option of `size` bytes (its length field times 8, as the kernel passes it): NULL,
 * or what makes the option one to ignore. */
static inline const char *pref64_decode(const uint8_t *option, size_t size, struct pref64 *out)
{
	static const char *const beyond[6] = {
		NULL,
		"bits set beyond the /64 prefix",
		"bits set beyond the /56 prefix",
		"bits set beyond the /48 prefix",
		"bits set beyond the /40 prefix",
		"bits set beyond the /32 prefix",
	};
	if (size < 2 || option[0] != PREF64_TYPE)
		return "not a PREF64 option";
	if (option[1] != PREF64_LENGTH || size < PREF64_SIZE)
		return "length field is not 2 (16 bytes)";
	uint16_t field = (uint16_t)(option[2] << 8 | option[3]);
	unsigned plc = field & 7;
	if (plc == 6)
		return "invalid prefix length code 6";
	if (plc == 7)
		return "invalid prefix length code 7";
	/* RFC 8781 has no rule for these bits; RFC 6052 §2.2 prefixes have them zero, and a router that
	 * sets them most likely sent a wrong code. */
	unsigned length = pref64_plc_length[plc];
	for (unsigned i = length / 8; i < PREF64_PREFIX_BYTES; i++)
		if (option[4 + i])
			return beyond[plc];
	memset(out->prefix, 0, sizeof(out->prefix));
	memcpy(out->prefix, option + 4, PREF64_PREFIX_BYTES);
	out->length = (uint8_t)length;
	out->lifetime = (uint32_t)(field >> 3) * 8;
	return NULL;
}

#endif
