// Prefix discovery through DNS64 (RFC 7050, its special-use name and addresses per RFC 8880): a
// DNS64 answers AAAA for ipv4only.arpa, which has only these A records, with them inside its prefix.

export const IPV4ONLY_ARPA = 'ipv4only.arpa'

/** The well-known IPv4 addresses of IPV4ONLY_ARPA, as RFC 8880 §2 lists them. */
export const IPV4ONLY_ADDRESSES: readonly string[] = ['192.0.0.170', '192.0.0.171']
